import ArgumentParser
import Foundation
import Logging
import MapperCore
import MapperPostgres
import MapperStore

/// `mapperd migrate --data-dir DIR` (or `--store postgres://…`): creates the data directory if
/// needed and applies the pending migrations to its database (or to the PostgreSQL database),
/// then prints the applied list.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply database migrations to a data directory.")

    @Option(name: .long, help: "The data directory (env MAPPERD_DATA_DIR).")
    var dataDir: String = ProcessInfo.processInfo.environment["MAPPERD_DATA_DIR"] ?? "./mapperd-data"

    @Option(name: .long, help: "A PostgreSQL store instead of the data directory's (env MAPPERD_STORE).")
    var store: String? = ProcessInfo.processInfo.environment["MAPPERD_STORE"].flatMap { $0.isEmpty ? nil : $0 }

    func run() async throws {
        if let store {
            let location: PostgresLocation
            do {
                location = try PostgresLocation(store)
            } catch let error as MapperError {
                throw ValidationError("--store: \(error.message)")
            }
            let postgres = try await PostgresStore(location: location)
            let applied = try await postgres.appliedMigrations()
            await postgres.close()
            StandardOutput.write(applied.map { "applied \($0)\n" }.joined())
            return
        }
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
