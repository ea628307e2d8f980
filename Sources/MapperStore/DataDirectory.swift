import Foundation

/// The layout of a data directory: the database `mapperd.sqlite`, the lock `mapperd.lock`,
/// and the backend files, named relative to the directory.
public enum DataDirectory {
    public static let databaseName = "mapperd.sqlite"

    public static func databasePath(in directory: URL) -> String {
        directory.appendingPathComponent(databaseName).path
    }
}
