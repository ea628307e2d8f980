import Testing

@testable import MapperCore

/// How a move rewrites a table, line by line.
@Suite("Move plan")
struct MovePlanTests {
    static func plan(_ table: String, toOffset: UInt64 = 0) throws -> MovePlan {
        try MovePlan(
            table: TableParser.parse(table), from: "old", to: "new", toOffset: toOffset, regionSize: 1024,
            log: { "log\($0)" })
    }

    @Test("linear segments on from become mirrors, then linear on to, laid out in order; others stay")
    func segments() throws {
        let plan = try Self.plan(
            """
            0 2048 linear old 4096
            2048 100 zero
            2148 1000 linear old 0
            3148 8 linear other 0
            """, toOffset: 8)
        #expect(
            plan.mirrored.map(\.text) == [
                "0 2048 mirror disk 2 log0 1024 2 old 4096 new 8 1 handle_errors",
                "2048 100 zero",
                "2148 1000 mirror disk 2 log1 1024 2 old 0 new 2056 1 handle_errors",
                "3148 8 linear other 0",
            ])
        #expect(
            plan.destination.map(\.text) == [
                "0 2048 linear new 8", "2048 100 zero", "2148 1000 linear new 2056", "3148 8 linear other 0",
            ])
        #expect(plan.source.count == 4 && plan.sectors == 3048)
        #expect(plan.segments.map(\.logSectors) == [16, 16])
    }

    @Test("without log backends the mirrors get core logs")
    func coreLogs() throws {
        let plan = try MovePlan(
            table: TableParser.parse("0 2048 linear old 4096\n2048 8 zero"), from: "old", to: "new", toOffset: 0,
            regionSize: 512, log: nil)
        #expect(
            plan.mirrored.map(\.text) == ["0 2048 mirror core 1 512 2 old 4096 new 0 1 handle_errors", "2048 8 zero"])
        #expect(plan.segments.map(\.log) == [nil])
        // The table parses as a mirror.
        #expect(try TableParser.parse(plan.mirrored.map(\.text).joined(separator: "\n")).first?.type == "mirror")
    }

    @Test("a multipath segment on paths to from is held by a device of its own, the mirror's first leg")
    func multipath() throws {
        let line = "1024 512 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 pa 1 pb 1"
        let plan = try MovePlan(
            table: TableParser.parse("0 1024 linear other 0\n" + line), from: "old", to: "new", toOffset: 0,
            regionSize: 256, log: { "log\($0)" }, holder: { "src\($0)" },
            pathBackend: { ["pa": "old", "pb": "old"][$0] })
        #expect(
            plan.mirrored.map(\.text) == [
                "0 1024 linear other 0", "1024 512 mirror disk 2 log0 256 2 src0 1024 new 0 1 handle_errors",
            ])
        #expect(plan.destination.map(\.text) == ["0 1024 linear other 0", "1024 512 linear new 0"])
        let holder = try #require(plan.segments.first?.holder)
        #expect(holder.name == "src0")
        #expect(holder.table.map(\.text) == ["0 1536 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 pa 1 pb 1"])
        // Paths to another backend: nothing of the table maps onto old.
        #expect(throws: MapperError.self) {
            try MovePlan(
                table: TableParser.parse(line), from: "old", to: "new", toOffset: 0, regionSize: 256,
                log: { "log\($0)" }, pathBackend: { _ in "elsewhere" })
        }
    }

    @Test(
        "plans that cannot be made",
        arguments: [
            ("0 8 linear other 0", Errno.EINVAL),
            ("0 8 striped 2 8 old 0 other 0", .EINVAL),
            ("0 8 mirror core 1 8 2 old 0 new 0", .EBUSY),
        ])
    func refused(table: String, errno: Errno) {
        #expect {
            _ = try Self.plan(table)
        } throws: { ($0 as? MapperError)?.errno == errno }
    }

    @Test("from and to the same, or a region size not a power of two: EINVAL")
    func badParameters() {
        #expect(throws: MapperError.self) {
            try MovePlan(
                table: TableParser.parse("0 8 linear old 0"), from: "old", to: "old", toOffset: 0, regionSize: 8,
                log: { "l\($0)" })
        }
        #expect(throws: MapperError.self) {
            try MovePlan(
                table: TableParser.parse("0 8 linear old 0"), from: "old", to: "new", toOffset: 0, regionSize: 12,
                log: { "l\($0)" })
        }
    }
}
