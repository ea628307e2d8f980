import MapperCore
import MapperTestSupport
import Testing

@Suite("Table parsing and validation")
struct TableParserTests {
    @Test(
        "layout errors are EINVAL and name the line",
        arguments: [
            ("", "no targets"),
            ("# only a comment\n", "no targets"),
            ("0 0 zero", "line 1: length must be greater than 0"),
            ("0 10 zero\n20 10 zero", "line 2: start 20 leaves a gap"),
            ("0 10 zero\n5 10 zero", "line 2: start 5 overlaps"),
            ("1 10 zero", "line 1: start 1 leaves a gap"),
            ("0 10", "line 1: expected"),
            ("x 10 zero", "line 1: start 'x'"),
            ("0 -1 zero", "line 1: length '-1'"),
            ("0 10 zero\n\n10 abc zero", "line 3: length 'abc'"),
        ])
    func layoutErrors(text: String, message: String) throws {
        let error = #expect(throws: MapperError.self) { try TableParser.parse(text) }
        #expect(error?.errno == .EINVAL)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("blank lines, comments, tabs and CRLF are accepted")
    func lenientWhitespace() throws {
        let lines = try TableParser.parse("# header\r\n0\t8 zero\r\n\n8 8  linear  disk   0 \n")
        #expect(lines.count == 2)
        #expect(lines[1] == TableLine(start: 8, length: 8, type: "linear", args: ["disk", "0"], lineNumber: 4))
    }

    @Test(
        "target argument errors are EINVAL and name the line",
        arguments: [
            ("0 8 nosuch", "line 1: unknown target type 'nosuch'"),
            ("0 8 linear", "line 1: linear: missing device"),
            ("0 8 linear disk", "line 1: linear: missing offset"),
            ("0 8 linear disk x", "line 1: linear: invalid offset 'x'"),
            ("0 8 linear disk 0 extra", "too many arguments"),
            ("0 8 linear ghost 0", "no block device named 'ghost'"),
            ("0 8 linear disk 100", "does not fit in 'disk'"),
            ("0 200 linear disk 0", "does not fit"),
            ("0 8 zero\n8 8 zero extra", "line 2: zero: too many arguments"),
            ("0 9 striped 2 1 disk 0 disk 8", "not divisible by 2 stripes"),
            ("0 12 striped 2 4 disk 0 disk 8", "stripe length 6 is not divisible by chunk size 4"),
            ("0 8 striped 2 4 disk 0", "expected 2 device/offset pairs"),
            ("0 8 striped 0 4", "invalid number of stripes"),
            ("0 8 striped 2 0 disk 0 disk 8", "invalid chunk size"),
            ("0 8 delay disk 0", "missing delay"),
            ("0 8 flakey disk 0 0 0", "both 0"),
            ("0 8 flakey disk 0 1 1 1 bogus", "unknown feature"),
        ])
    func targetErrors(text: String, message: String) async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 100)
        try await fixture.manager.createDevice(name: "dm0")
        let error = await #expect(throws: MapperError.self) {
            try await fixture.manager.load(device: "dm0", text: text)
        }
        #expect(error?.errno == .EINVAL)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        #expect(try fixture.manager.device(named: "dm0").inactiveTable == nil)
        #expect(try fixture.manager.backend(named: "disk").holders.openCount == 0)
    }

    @Test("table output is normalised and loads back")
    func normalisedOutputRoundTrips() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 1000)
        let text = """
            0   100 linear  disk 0
            100 200 striped 2 50 disk 100 disk 300
            300 10 zero
            310 10 error
            320 10 delay disk 500 0
            330 10 flakey disk 600 5 0
            """
        let device = try await fixture.device("dm0", table: text)
        let output = try #require(device.liveTable?.text)
        #expect(
            output == """
                0 100 linear disk 0
                100 200 striped 2 50 disk 100 disk 300
                300 10 zero
                310 10 error
                320 10 delay disk 500 0
                330 10 flakey disk 600 5 0

                """)
        try await fixture.manager.load(device: "dm0", text: output)
        #expect(device.inactiveTable?.text == output)
    }

    @Test("a failed load keeps the previous inactive table")
    func failedLoadKeepsInactive() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 100)
        let device = try await fixture.manager.createDevice(name: "dm0")
        try await fixture.manager.load(device: "dm0", text: "0 10 linear disk 0")
        await #expect(throws: MapperError.self) {
            try await fixture.manager.load(device: "dm0", text: "0 10 linear disk 99")
        }
        #expect(device.inactiveTable?.text == "0 10 linear disk 0\n")
        #expect(try fixture.manager.backend(named: "disk").holders.openCount == 1)
    }

    @Test("100,000-line tables load and look up by binary search")
    func largeTable() async throws {
        let fixture = try EngineFixture()
        var text = ""
        text.reserveCapacity(100_000 * 20)
        for index in 0..<100_000 { text += "\(index * 8) 8 zero\n" }
        let device = try await fixture.device("big", table: text)
        let table = try #require(device.liveTable)
        #expect(table.targets.count == 100_000)
        #expect(table.sizeSectors == 800_000)
        for sector: UInt64 in [0, 7, 8, 399_999, 400_000, 799_999] {
            #expect(table.targetIndex(for: sector) == Int(sector / 8))
        }
        #expect(table.target(for: 800_000) == nil)
    }
}
