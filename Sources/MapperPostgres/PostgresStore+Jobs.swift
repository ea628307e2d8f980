import Foundation
import Logging
import MapperCore
import PostgresNIO

/// Move jobs in the shared store.
extension PostgresStore {
    /// The persisted move jobs, oldest first. A row that no longer decodes is EIO naming it.
    public func moveJobs() async throws -> [MoveJob] {
        let logger = self.logger
        let rows = try await reader.use { db in
            var rows: [(String, String)] = []
            for try await row in try await db.query(
                "SELECT id, record FROM move_job ORDER BY position", logger: logger
            ).decode((String, String).self) {
                rows.append(row)
            }
            return rows
        }
        return try rows.map { id, record in
            do {
                return try JSONDecoder().decode(MoveJob.self, from: Data(record.utf8))
            } catch {
                throw MapperError(.EIO, "move job '\(id)' cannot be read: \(error)")
            }
        }
    }

    /// The next number of the database's `move_job_number` sequence: every host sharing the
    /// store takes its job numbers there, so job ids never collide. EIO when the database is
    /// out of reach.
    public func nextMoveJobNumber() async throws -> Int? {
        let logger = self.logger
        do {
            return try await reader.use { db in
                for try await number in try await db.query("SELECT nextval('move_job_number')", logger: logger)
                    .decode(Int64.self)
                {
                    return Int(number)
                }
                throw MapperError(.EIO, "the store gave no move job number")
            }
        } catch let error as MapperError {
            throw error
        } catch {
            throw MapperError(.EIO, "the store gave no move job number: \(String(reflecting: error))")
        }
    }
}
