import Foundation
import MapperCore

/// Confines backend files to the data directory: names are relative, without `..`, and no
/// symbolic link on the way may lead outside (EINVAL otherwise).
struct BackendFiles: Sendable {
    let root: URL

    init(dataDirectory: URL) {
        root = dataDirectory.standardizedFileURL.resolvingSymlinksInPath()
    }

    func resolve(_ file: String) throws -> URL {
        guard !file.isEmpty, file.utf8.count <= 4096 else { throw MapperError(.EINVAL, "file must be 1 to 4096 bytes") }
        guard !file.hasPrefix("/") else {
            throw MapperError(.EINVAL, "file '\(file)' must be relative to the data directory")
        }
        guard !file.contains("\0"), !file.contains("\\") else {
            throw MapperError(.EINVAL, "file '\(file)' contains forbidden characters")
        }
        let components = file.split(separator: "/", omittingEmptySubsequences: false)
        guard !components.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }) else {
            throw MapperError(.EINVAL, "file '\(file)' must not contain '..', '.' or empty components")
        }
        let url = root.appendingPathComponent(file)
        // Resolve links on the existing part of the path and check it stays inside.
        let existing = FileManager.default.fileExists(atPath: url.path) ? url : url.deletingLastPathComponent()
        let resolved = existing.resolvingSymlinksInPath().standardizedFileURL.path
        guard resolved == root.path || resolved.hasPrefix(root.path + "/") else {
            throw MapperError(.EINVAL, "file '\(file)' leads outside the data directory")
        }
        guard FileManager.default.fileExists(atPath: url.deletingLastPathComponent().path) else {
            throw MapperError(.EINVAL, "the directory of file '\(file)' does not exist in the data directory")
        }
        return url
    }
}
