import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where mapperctl writes: stdout for results, stderr for errors and progress.
enum Terminal {
    static func standardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Whether stderr is a terminal (progress is shown only then).
    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
