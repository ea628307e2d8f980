import MapperCore
import Testing

@testable import MapperStore

/// Start-up recovery brings a device up after the devices its tables map onto, whatever
/// order they were made in.
@Suite("Recovery order")
struct StackingOrderTests {
    static func record(_ name: String, live: [String], inactive: [String] = []) -> StoreSnapshot.DeviceRecord {
        StoreSnapshot.DeviceRecord(
            name: name, uuid: nil, readOnly: false, suspended: false, eventNr: 0, live: live, inactive: inactive,
            targetStates: [:], noPathRetry: .queue)
    }

    @Test("a lower device made later comes first; others keep creation order")
    func order() {
        let devices = [
            Self.record("a", live: ["0 8 linear disk 0"]),
            // Moved: its mirror's first leg is a holder device made after it.
            Self.record("moved", live: ["0 8 mirror disk 2 log0 8 2 moved-src0 0 new 0 1 handle_errors"]),
            Self.record("b", live: [], inactive: ["0 8 linear moved 0"]),
            Self.record("moved-src0", live: ["0 8 multipath 0 0 1 1 round-robin 0 1 1 p1 1"]),
        ]
        #expect(StoreRecovery.stackingOrder(devices).map(\.name) == ["a", "moved-src0", "moved", "b"])
    }

    @Test("a cycle (no table can hold one) keeps creation order rather than dropping a device")
    func cycle() {
        let devices = [Self.record("x", live: ["0 8 linear y 0"]), Self.record("y", live: ["0 8 linear x 0"])]
        #expect(StoreRecovery.stackingOrder(devices).map(\.name) == ["x", "y"])
    }
}
