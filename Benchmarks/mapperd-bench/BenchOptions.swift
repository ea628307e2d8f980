import Foundation

/// Command-line options shared by the suites.
struct BenchOptions: Sendable {
    /// Seconds per measured round (each case runs 3 rounds of engine and baseline, interleaved).
    var seconds = 0.4
    /// Directories to put the test file in: by default `/dev/shm` (tmpfs) and the current
    /// directory (disk).
    var directories: [String] = []
    /// Only cases whose name contains this string.
    var filter: String?

    init<S: Sequence>(_ arguments: S) where S.Element == String {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--seconds": seconds = iterator.next().flatMap(Double.init) ?? seconds
            case "--filter": filter = iterator.next()
            case "--dirs": directories = (iterator.next() ?? "").split(separator: ",").map(String.init)
            default: break
            }
        }
        if directories.isEmpty {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue {
                directories.append("/dev/shm")
            }
            directories.append(FileManager.default.currentDirectoryPath)
        }
    }
}
