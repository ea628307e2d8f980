import Logging
import MapperCore
import PostgresNIO

/// What one transaction of the writer has fenced so far: the devices it asked the fence about
/// (whose row locks it now holds until it ends) and those the fence refused. A transaction
/// asks first for the work already waiting, then only for devices not asked about yet.
struct FencedDevices {
    private(set) var checked: Set<String> = []
    private(set) var refused: [String: MapperError] = [:]

    /// Asks the fence about those of `devices` not asked about yet in this transaction.
    mutating func check(
        _ devices: Set<String>, with fence: PostgresWriter.Fence?, _ db: PostgresConnection, logger: Logger
    ) async throws {
        guard let fence else { return }
        let new = devices.subtracting(checked)
        guard !new.isEmpty else { return }
        checked.formUnion(new)
        refused.merge(try await fence(new, db, logger)) { first, _ in first }
    }
}
