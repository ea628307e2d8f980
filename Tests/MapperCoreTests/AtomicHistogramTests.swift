import Testing

@testable import MapperCore

/// `AtomicHistogram`: a value lands in the first bucket whose bound is at least the value;
/// snapshots are cumulative with `+Inf` last.
struct AtomicHistogramTests {
    @Test(
        "bounds are inclusive upper limits; +Inf takes the rest",
        arguments: [
            (0 as UInt64, 0), (10, 0), (11, 1), (100, 1), (101, 2), (1000, 2), (1001, 3), (UInt64.max / 2, 3),
        ])
    func bucketOf(value: UInt64, bucket: Int) {
        let histogram = AtomicHistogram(bounds: [10, 100, 1000])
        histogram.record(value)
        let snapshot = histogram.snapshot
        #expect(snapshot.cumulative == (0...3).map { $0 >= bucket ? 1 : 0 })
        #expect(snapshot.sum == value)
        #expect(snapshot.count == 1)
    }

    @Test("cumulative counts and sum over many observations")
    func cumulative() {
        let histogram = AtomicHistogram(bounds: [1, 2, 4])
        for value: UInt64 in [1, 1, 2, 3, 4, 5, 9] { histogram.record(value) }
        let snapshot = histogram.snapshot
        #expect(snapshot.cumulative == [2, 3, 5, 7])
        #expect(snapshot.sum == 25)
    }

    @Test("a device's latency buckets follow the same rule as AtomicHistogram, at every bound")
    func deviceBucketsMatchTheHistogramRule() {
        let bounds = IOStatistics.latencyBounds
        var values: [UInt64] = [0, 1, UInt64.max]
        for bound in bounds { values += [bound - 1, bound, bound + 1] }
        for value in values {
            let histogram = AtomicHistogram(bounds: bounds)
            histogram.record(value)
            let expected = histogram.snapshot.cumulative.firstIndex(of: 1)
            #expect(IOStatistics.bucket(value) == expected, "value \(value)")
        }
        #expect(IOStatistics.slotsPerOp == 3 + bounds.count + 1, "failed, bytes, sum, then every bucket and +Inf")
    }

    @Test("a device counts ended bios per op, with failures apart")
    func deviceStatistics() async throws {
        let statistics = IOStatistics()
        let read = Bio(id: 1, op: .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096))
        statistics.endIOAcct(read, error: nil, endedAt: read.startedNanos + 30_000)
        statistics.endIOAcct(read, error: .EIO, endedAt: read.startedNanos + 2_000_000)
        #expect(statistics.reads.latency.snapshot.count == 2)
        #expect(statistics.reads.failed == 1)
        #expect(statistics.reads.bytes == 4096)
        #expect(statistics.reads.latency.snapshot.sum == 2_030_000)
        #expect(statistics.writes.latency.snapshot.count == 0)
    }
}
