import Foundation
import Synchronization
import Testing

@testable import MapperCore

/// A bio's end: one word written by one compare-exchange (``BioEnd``), and the handshake that
/// lets a bio nobody observes end without its lock.
@Suite("Bio end")
struct BioEndTests {
    private static let started: Int64 = 5_000_000_000

    @Test(
        "the end word records outcome and time; no failure reads as success",
        arguments: [
            (nil, 0, nil, 0),
            (nil, 63, nil, 0),
            (nil, 64, nil, 64),
            (nil, 1_000_003, nil, 1_000_000),
            (Errno.EIO, 640, Errno.EIO, 640),
            (Errno.ENOSPC, -5, Errno.ENOSPC, 0),
            (Errno(rawValue: 0), 128, Errno(rawValue: 1), 128),
            (Errno(rawValue: 70_000), 128, Errno(rawValue: 0xFFFE), 128),
        ] as [(Errno?, Int64, Errno?, Int64)])
    func truthTable(error: Errno?, latency: Int64, decoded: Errno?, completedAfter: Int64) throws {
        let word = BioEnd.word(error: error, latency: latency)
        #expect(word != 0, "an ended bio's word is never the not-ended 0")
        let end = try #require(BioEnd(word, startedNanos: Self.started))
        #expect(end.error == decoded)
        #expect(end.completedNanos == Self.started + completedAfter)
        #expect(end.state == (decoded == nil ? .completed : .failed))
    }

    @Test("the time saturates instead of wrapping, and 0 is not ended")
    func saturationAndZero() throws {
        #expect(BioEnd(0, startedNanos: Self.started) == nil)
        let end = try #require(BioEnd(BioEnd.word(error: .EIO, latency: .max), startedNanos: 0))
        #expect(end.error == .EIO)
        #expect(end.completedNanos == Int64((UInt64.max >> 16) << 6), "208 days and then no further")
    }

    @Test("a bio's state, error and end time come from the end once it has ended; a second end changes nothing")
    func observableEnd() {
        let bio = Bio(id: 1, op: .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        #expect(bio.state == .inflight && bio.ended == nil && bio.completedAt == nil)
        bio.setState(.deferred)
        #expect(bio.state == .deferred)
        let endedAt = bio.startedNanos + 10_000
        bio.endIO(.ENOSPC, endedAt: endedAt)
        bio.endIO(nil, endedAt: endedAt + 1_000_000)
        bio.setState(.pushback)
        #expect(bio.state == .failed && bio.error == .ENOSPC && bio.ended == .some(.ENOSPC))
        let completed = bio.completedAt?.timeIntervalSince(bio.submittedAt) ?? -1
        #expect(abs(completed - 10e-6) < 1e-6, "ended 10 µs after it started, to within 64 ns and a Date's precision")
        #expect(bio.outcome.state == .failed && bio.outcome.error == .ENOSPC)
        #expect(!bio.isDurablyQueued)
    }

    /// Counts end-I/O calls.
    final class Receiver: BlockIOCompletion {
        let calls = Atomic<Int>(0)
        func endIO(_ error: Errno?) { calls.add(1, ordering: .relaxed) }
    }

    @Test("waiters and end-I/O receivers that register while the bio ends are all told, exactly once")
    func registrationRacesTheEnd() async {
        let rounds = 3000
        let receivers = (0..<rounds).map { _ in Receiver() }
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for round in 0..<rounds {
                let bio = Bio(id: UInt64(round), op: .write, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
                let error: Errno? = round % 3 == 0 ? .EIO : nil
                group.addTask {
                    // A deadline, so that a lost wake-up fails the test instead of hanging it.
                    let ended = await bio.wait(deadline: .now + .seconds(20))
                    return ended == .some(error)
                }
                group.addTask {
                    await bio.waitUntilEndedOrDurablyQueued(deadline: .now + .seconds(20))
                }
                group.addTask {
                    bio.setEndIO(receivers[round])
                    return true
                }
                group.addTask {
                    bio.endIO(error)
                    return true
                }
            }
            var all: [Bool] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.count == rounds * 4)
        #expect(outcomes.allSatisfy { $0 }, "\(outcomes.filter { !$0 }.count) waits missed the end")
        #expect(receivers.allSatisfy { $0.calls.load(ordering: .relaxed) == 1 })
    }
}
