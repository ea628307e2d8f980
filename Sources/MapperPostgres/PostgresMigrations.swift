import Foundation
import Logging
import MapperCore
import PostgresNIO

/// The PostgreSQL store's forward-only migrations (`Migrations/NNNN_name.sql` of this module),
/// applied in name order, each recorded in `mapperd_migration`. Every host that starts runs
/// them under one advisory lock, in one transaction, so two starting at once apply each once.
enum PostgresMigrations {
    /// The bundled migrations, sorted by name.
    static func bundled() throws -> [(name: String, sql: String)] {
        let root = Bundle.module.resourceURL ?? Bundle.module.bundleURL
        let urls = ((try? FileManager.default.contentsOfDirectory(at: root, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        guard !urls.isEmpty else {
            throw MapperError(.EIO, "migrations are missing from the MapperPostgres bundle")
        }
        return try urls.map { url in
            (url.deletingPathExtension().lastPathComponent, try String(contentsOf: url, encoding: .utf8))
        }
    }

    /// The statements of a migration file: `--` comments dropped, split at each `;`. (So a
    /// migration holds no `;` or `--` inside a literal; none needs one.)
    static func statements(_ sql: String) -> [String] {
        let text = sql.split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in line.range(of: "--").map { String(line[..<$0.lowerBound]) } ?? String(line) }
            .joined(separator: "\n")
        return text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
    }

    /// Applies what the database has not applied yet.
    static func apply(on link: PostgresLink, logger: Logger) async throws {
        let files = try bundled()
        do {
            try await link.use { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    // One key for mapperd's schema: hosts starting together take turns.
                    try await connection.query("SELECT pg_advisory_xact_lock(7420)", logger: logger)
                    try await connection.query(
                        """
                        CREATE TABLE IF NOT EXISTS mapperd_migration (
                            name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)
                        """, logger: logger)
                    var applied: Set<String> = []
                    for try await name in try await connection.query(
                        "SELECT name FROM mapperd_migration", logger: logger
                    ).decode(String.self) {
                        applied.insert(name)
                    }
                    for file in files where !applied.contains(file.name) {
                        for statement in statements(file.sql) {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await connection.query(
                            "INSERT INTO mapperd_migration(name, applied_at) VALUES (\(file.name), \(Date().timeIntervalSince1970))",
                            logger: logger)
                    }
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch let error as MapperError {
            throw error
        } catch {
            throw MapperError(
                .EIO, "store \(link.location.description): migration failed: \(String(reflecting: error))")
        }
    }
}
