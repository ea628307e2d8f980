import Foundation
import Synchronization
import Testing

@testable import MapperCore

/// ``LegWritePlacement`` as a table of submit times and places, and ``MirrorLegWriter``
/// carrying it out: a leg whose `submit` costs tens of microseconds goes to its own queue, a
/// cheap one stays on the caller's thread.
@Suite("mirror leg write placement")
struct LegWritePlacementTests {
    /// Feeds `times` (nanoseconds) in order; returns the places reported as they changed.
    static func feed(_ placement: inout LegWritePlacement, _ times: [Int64]) -> [LegWritePlacement.Place] {
        times.compactMap { placement.observe(nanos: $0) }
    }

    static func repeated(_ nanos: Int64, _ count: Int) -> [Int64] { Array(repeating: nanos, count: count) }

    @Test(
        "the place follows the average submit time, with a gap between the two lines and a cap on each time",
        arguments: [
            // (times, places reported in order, place at the end)
            // tmpfs: a page-cache hit, about a microsecond: inline.
            (repeated(1_000, 200), [], LegWritePlacement.Place.inline),
            // ext4 with large folios, about 14 µs: queued once the warm-up is over, not before.
            (repeated(14_000, 15), [], .inline),
            (repeated(14_000, 16), [.queued], .queued),
            // Near the line: the gap keeps it where it went.
            (repeated(14_000, 16) + repeated(6_000, 400), [.queued], .queued),
            (repeated(14_000, 16) + repeated(3_000, 400), [.queued, .inline], .inline),
            (repeated(1_000, 16) + repeated(7_900, 400), [], .inline),
            // A preempted submit (a millisecond) counts as 16 µs: once in a while, or nine in
            // a row, it moves nothing; ten in a row do.
            (repeated(1_000, 16) + [1_000_000] + repeated(1_000, 100), [], .inline),
            (repeated(1_000, 16) + repeated(1_000_000, 9), [], .inline),
            (repeated(1_000, 16) + repeated(1_000_000, 10), [.queued], .queued),
            // A negative time (a clock read on two CPUs) counts as zero.
            (repeated(-5_000, 20), [], .inline),
        ] as [([Int64], [LegWritePlacement.Place], LegWritePlacement.Place)])
    func table(times: [Int64], reported: [LegWritePlacement.Place], end: LegWritePlacement.Place) {
        var placement = LegWritePlacement()
        #expect(Self.feed(&placement, times) == reported)
        #expect(placement.place == end)
    }

    @Test(
        "the plan: the default mirror (the first leg) inline, every other leg where its place says",
        arguments: [
            // (each leg's average in µs and whether it is queued, which legs go to their queue)
            ([(1, false), (1, false)], [false, false]),  // tmpfs
            ([(14, true), (14, true)], [false, true]),  // both slow: the first inline, the other queued
            ([(15, true), (14, true)], [false, true]),
            // A move, the source slow: it stays inline, as the writes to regions not in sync do
            // (two threads writing one file wait for each other's inode lock).
            ([(14, true), (2, false)], [false, false]),
            ([(3, false), (12, true)], [false, true]),  // the destination slow: queued
            ([(14, true)], [false]),  // a write to one leg alone is never handed over
            ([(9, true), (3, false), (12, true)], [false, false, true]),
            ([(6, true), (2, false), (7, true)], [false, false, true]),  // in the gap: where it went
            ([], []),
        ] as [([(Int64, Bool)], [Bool])])
    func plan(legs: [(Int64, Bool)], queued: [Bool]) {
        let placements = legs.map { micros, isQueued in
            // A placement with that average and place, reached as a leg reaches it.
            var placement = LegWritePlacement()
            if isQueued { _ = Self.feed(&placement, Self.repeated(16_000, 40)) }
            _ = Self.feed(&placement, Self.repeated(micros * 1_000, 400))
            #expect(placement.place == (isQueued ? .queued : .inline))
            return placement
        }
        #expect(LegWritePlacement.plan(placements) == queued)
    }

    @Test(
        "a cheap leg whose end sets off costly work (the write's end, an NBD reply) stays inline: the time stops at the leg's end"
    )
    func endNotCounted() {
        let node = CostlyNode(costNanos: 0)
        let writer = MirrorLegWriter(name: node.name, logger: .init(label: "test"))
        for sector in 0..<UInt64(4 * LegWritePlacement.warmUp) {
            let (request, legEnd, end) = node.request(sector, afterEndNanos: 30_000)
            writer.writeInline(request, end: legEnd, to: node)
            #expect(end.ended)
        }
        #expect(writer.placement.place == .inline)
        #expect(writer.placement.averageNanos < LegWritePlacement.inlineBelowNanos)
    }

    @Test(
        "the writer times each submit: a costly leg's placement turns to queued, a cheap one's stays inline; queued writes run on the leg's queue in order"
    )
    func writer() async throws {
        let cheap = CostlyNode(costNanos: 0)
        let costly = CostlyNode(costNanos: 30_000)
        for node in [cheap, costly] {
            let writer = MirrorLegWriter(name: node.name, logger: .init(label: "test"))
            // Inline: each write has ended when `writeInline` returns, on this thread. (No
            // suspension point between the thread's reading and the writes.)
            let warmUp = UInt64(LegWritePlacement.warmUp)
            let caller = pthread_self()
            let first = (0..<warmUp).map { node.request($0) }
            for (request, legEnd, _) in first { writer.writeInline(request, end: legEnd, to: node) }
            #expect(first.allSatisfy { $0.2.ended })
            #expect(node.threads.withLock { $0.allSatisfy { pthread_equal($0, caller) != 0 } })
            #expect(writer.placement.place == (node === costly ? .queued : .inline))
            node.threads.withLock { $0 = [] }
            // Queued: a batch handed over at once, awaited.
            let batch = warmUp..<(warmUp + 32)
            let requests = batch.map { node.request($0) }
            let batchCaller = pthread_self()
            for (request, legEnd, _) in requests { writer.queue(request, end: legEnd, to: node) }
            for (_, _, end) in requests { await end.wait() }
            let threads = node.threads.withLock { $0 }
            #expect(threads.count == 32)
            #expect(threads.allSatisfy { pthread_equal($0, batchCaller) == 0 }, "not the caller's thread")
            #expect(node.sectors.withLock { Array($0.suffix(32)) } == Array(batch), "in the order handed over")
            // The queue's times count too: the costly leg stays queued, the cheap one inline.
            #expect(writer.placement.place == (node === costly ? .queued : .inline))
        }
    }
}

extension LegWritePlacementTests {
    @Test("writes handed over while the leg's queue is writing join its run: one run for all, in order")
    func handOverJoinsRun() async throws {
        let node = GatedNode()
        let writer = MirrorLegWriter(name: node.name, logger: .init(label: "test"))
        let requests = (0..<UInt64(32)).map { node.request($0) }
        writer.queue(requests[0].0, end: requests[0].1, to: node)
        // The run is inside the first write's submit until the gate opens.
        await node.entered()
        for (request, legEnd, _) in requests.dropFirst() { writer.queue(request, end: legEnd, to: node) }
        node.open()
        for (_, _, end) in requests { await end.wait() }
        #expect(writer.runsStarted.load(ordering: .relaxed) == 1)
        #expect(node.sectors.withLock { $0 } == Array(0..<32))
        // A write handed over once the run has ended starts another.
        let (request, legEnd, end) = node.request(32)
        writer.queue(request, end: legEnd, to: node)
        await end.wait()
        #expect(writer.runsStarted.load(ordering: .relaxed) == 2)
    }
}

/// A leg whose `submit` costs `costNanos` of its thread's time (a busy loop on the monotonic
/// clock, as a kernel walking a large folio keeps the thread busy), then ends the request.
/// Records the thread and the sector of every submit.
final class CostlyNode: BlockNode {
    let name: String
    let sizeSectors: UInt64 = 1 << 20
    let kind = BlockNodeKind.backend
    let holders = Holders()
    let costNanos: Int64
    let threads = Mutex<[pthread_t]>([])
    let sectors = Mutex<[UInt64]>([])

    init(costNanos: Int64) {
        self.costNanos = costNanos
        name = "costly-\(costNanos)"
    }

    func submit(_ request: BlockRequest) {
        let start = MonotonicClock.now()
        while MonotonicClock.now() - start < costNanos {}
        threads.withLock { $0.append(pthread_self()) }
        sectors.withLock { $0.append(request.sector) }
        request.endIO(nil)
    }

    /// A write request of one sector and what awaits its end; the receiver of that end spends
    /// `afterEndNanos` of the thread first (as a mirror's write ending sets off an NBD reply).
    func request(_ sector: UInt64, afterEndNanos: Int64 = 0) -> (BlockRequest, MirrorLegEnd, RequestEnd) {
        let end = RequestEnd(afterEndNanos: afterEndNanos)
        let legEnd = MirrorLegEnd(end, leg: 0)
        return (
            BlockRequest(op: .write, sector: sector, sectors: 1, buffer: nil, bufferOffset: 0, completion: legEnd),
            legEnd, end
        )
    }
}

/// One leg's end, awaited, as a mirror's write receives it (through a ``MirrorLegEnd``).
final class RequestEnd: MirrorLegReceiver {
    private let state = Mutex<(ended: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))
    private let afterEndNanos: Int64
    init(afterEndNanos: Int64) { self.afterEndNanos = afterEndNanos }

    var issuingDevice: MappedDevice? { nil }

    func legEnded(_ leg: Int, _ error: Errno?) {
        let start = MonotonicClock.now()
        while MonotonicClock.now() - start < afterEndNanos {}
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.ended = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    var ended: Bool { state.withLock { $0.ended } }

    func wait() async {
        await withCheckedContinuation { continuation in
            let ended = state.withLock { state -> Bool in
                if !state.ended { state.waiter = continuation }
                return state.ended
            }
            if ended { continuation.resume() }
        }
    }
}
