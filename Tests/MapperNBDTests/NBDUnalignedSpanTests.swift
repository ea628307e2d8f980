import Testing

@testable import MapperNBD

/// The head / middle / tail arithmetic of unaligned ranges, as a table.
@Suite("NBD unaligned span")
struct NBDUnalignedSpanTests {
    typealias Partial = NBDUnalignedSpan.Partial

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var offset: UInt64
        var length: UInt64
        var head: Partial?
        var middle: Range<UInt64>
        var tail: Partial?
        var covering: Range<UInt64>
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "aligned", offset: 1024, length: 1024, head: nil, middle: 2..<4, tail: nil, covering: 2..<4),
        Case(label: "one byte at 0", offset: 0, length: 1, head: Partial(sector: 0, from: 0, count: 1), middle: 0..<0, tail: nil, covering: 0..<1),
        Case(label: "inside one sector", offset: 700, length: 100, head: Partial(sector: 1, from: 188, count: 100), middle: 1..<1, tail: nil, covering: 1..<2),
        Case(label: "ends a sector", offset: 600, length: 424, head: Partial(sector: 1, from: 88, count: 424), middle: 1..<1, tail: nil, covering: 1..<2),
        Case(label: "starts a sector, ends inside the next", offset: 512, length: 600, head: nil, middle: 1..<2, tail: Partial(sector: 2, from: 0, count: 88), covering: 1..<3),
        Case(label: "two partial sectors, nothing between", offset: 500, length: 24, head: Partial(sector: 0, from: 500, count: 12), middle: 1..<1, tail: Partial(sector: 1, from: 0, count: 12), covering: 0..<2),
        Case(label: "head, middle and tail", offset: 100, length: 2000, head: Partial(sector: 0, from: 100, count: 412), middle: 1..<4, tail: Partial(sector: 4, from: 0, count: 52), covering: 0..<5),
        Case(label: "aligned start, one byte short", offset: 0, length: 511, head: Partial(sector: 0, from: 0, count: 511), middle: 0..<0, tail: nil, covering: 0..<1),
        Case(label: "last byte of a sector", offset: 1023, length: 1, head: Partial(sector: 1, from: 511, count: 1), middle: 1..<1, tail: nil, covering: 1..<2),
    ]

    @Test("each range splits into its head, middle and tail", arguments: cases)
    func split(_ row: Case) {
        let span = NBDUnalignedSpan(offset: row.offset, length: row.length)
        #expect(span.head == row.head)
        #expect(span.middle == row.middle)
        #expect(span.tail == row.tail)
        #expect(span.covering == row.covering)
        #expect(span.aligned == (row.head == nil && row.tail == nil))
        // The parts add up to the range.
        let total = (span.head?.count ?? 0) + span.middle.count * 512 + (span.tail?.count ?? 0)
        #expect(UInt64(total) == row.length)
        #expect(span.offsetInCovering == Int(row.offset % 512))
    }
}
