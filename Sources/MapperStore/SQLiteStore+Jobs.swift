import Foundation
import GRDB
import MapperCore

extension SQLiteStore {
    /// The persisted move jobs, oldest first. A row that no longer decodes is EIO naming it.
    public func moveJobs() async throws -> [MoveJob] {
        let rows = try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, record FROM move_job ORDER BY rowid")
        }
        return try rows.map { row in
            let id: String = row["id"]
            let record: String = row["record"]
            do {
                return try JSONDecoder().decode(MoveJob.self, from: Data(record.utf8))
            } catch {
                throw MapperError(.EIO, "move job '\(id)' cannot be read: \(error)")
            }
        }
    }
}
