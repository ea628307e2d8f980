import ArgumentParser
import Foundation
import Logging
import MapperStore

/// `mapperd migrate --data-dir DIR`: creates the data directory if needed and applies the
/// pending migrations to its database, then prints the applied list.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply database migrations to a data directory.")

    @Option(name: .long, help: "The data directory (env MAPPERD_DATA_DIR).")
    var dataDir: String = ProcessInfo.processInfo.environment["MAPPERD_DATA_DIR"] ?? "./mapperd-data"

    func run() async throws {
        let directory = URL(fileURLWithPath: dataDir, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try DataDirectoryLock(directory: directory)
        let store = try SQLiteStore(path: DataDirectory.databasePath(in: directory))
        let applied = try await store.appliedMigrations()
        await store.close()
        _ = lock
        StandardOutput.write(applied.map { "applied \($0)\n" }.joined())
    }
}
