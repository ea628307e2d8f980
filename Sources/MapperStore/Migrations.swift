import Foundation
import GRDB
import MapperCore

/// The forward-only SQL migrations bundled with the module (`Migrations/NNNN_name.sql` at the
/// top of the repository), applied in name order; each file's name (without `.sql`) is its
/// identifier in GRDB's `DatabaseMigrator`.
public enum Migrations {
    /// One migration file.
    public struct File: Sendable {
        public let name: String
        public let sql: String
    }

    /// The bundled migrations, sorted by name. Throws EIO when the bundle is unreadable.
    public static func bundled() throws -> [File] {
        // The build copies each `Migrations/*.sql` to the root of the module's resources.
        let root = Bundle.module.resourceURL ?? Bundle.module.bundleURL
        let urls = ((try? FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !urls.isEmpty else {
            throw MapperError(.EIO, "migrations are missing from the MapperStore bundle")
        }
        return try urls.map { url in
            File(name: url.deletingPathExtension().lastPathComponent, sql: try String(contentsOf: url, encoding: .utf8))
        }
    }

    /// The migrator with every bundled migration registered.
    static func migrator() throws -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for file in try bundled() {
            migrator.registerMigration(file.name) { db in try db.execute(sql: file.sql) }
        }
        return migrator
    }
}
