import Testing

@testable import MapperCore

/// The `disk` region log's on-disk layout, without I/O.
@Suite("region log format")
struct RegionLogFormatTests {
    let format = RegionLogFormat(regionSize: 1024, regionCount: 70_000)

    @Test("the log's size: a header block and a bit per region in 4 KiB blocks")
    func geometry() {
        #expect(format.bitmapBlocks == 3)
        #expect(format.sectors == 4 * 8)
        #expect(format.sector(ofBitmapBlock: 0) == 8)
        #expect(format.bitmapBlock(of: 32_767) == 0 && format.bitmapBlock(of: 32_768) == 1)
        #expect(RegionLogFormat(regionSize: 8, regionCount: 1).sectors == 16)
    }

    @Test("a header reads back as written; its magic spells MAPPERDL")
    func headerRoundTrip() {
        let block = format.header(generation: 42)
        #expect(block.count == 4096)
        #expect(Array(block[0..<8]) == Array("MAPPERDL".utf8))
        #expect(format.decodeHeader(block) == .valid(generation: 42))
    }

    @Test(
        "a header of another geometry, version or none at all makes the log new",
        arguments: [
            (RegionLogFormat(regionSize: 512, regionCount: 70_000), "regions of 1024 sectors, not 70000 of 512"),
            (RegionLogFormat(regionSize: 1024, regionCount: 69_999), "log of 70000 regions"),
        ])
    func foreignHeader(other: RegionLogFormat, reason: String) {
        let decoded = other.decodeHeader(format.header(generation: 1))
        guard case .new(let why) = decoded else {
            Issue.record("a foreign header was taken: \(decoded)")
            return
        }
        #expect(why.contains(reason))
    }

    @Test("a zeroed block, a wrong version and a short block are not headers")
    func notHeaders() {
        #expect(format.decodeHeader([UInt8](repeating: 0, count: 4096)) == .new(reason: "no mirror log header"))
        var block = format.header(generation: 1)
        block[8] = 2
        #expect(format.decodeHeader(block) == .new(reason: "log format 2, not 1"))
        block = format.header(generation: 1)
        block[12] = 1  // a flag this version does not know
        #expect(format.decodeHeader(block) != .valid(generation: 1))
        #expect(
            format.decodeHeader(Array(format.header(generation: 1)[0..<16])) == .new(reason: "no mirror log header"))
    }

    @Test("the bitmap: one bit per region, low bit first, across blocks; bits past the last region are 0")
    func bitmapRoundTrip() {
        var flags = Array(repeating: false, count: 70_000)
        for region in [0, 9, 32_767, 32_768, 65_536, 69_999] { flags[region] = true }
        let blocks = (0..<format.bitmapBlocks).map { format.bitmapBlock($0, of: flags) }
        #expect(blocks[0][0] == 0b1 && blocks[0][1] == 0b10 && blocks[0][4095] == 0x80)
        #expect(blocks[1][0] == 0b1 && blocks[2][0] == 0b1)
        // Region 69,999 is bit 4,463 of block 2: byte 557, bit 7; nothing after it.
        #expect(blocks[2][557] == 0x80 && blocks[2][558...].allSatisfy { $0 == 0 })
        #expect(format.regions(fromBitmap: blocks.flatMap { $0 }) == flags)
    }
}
