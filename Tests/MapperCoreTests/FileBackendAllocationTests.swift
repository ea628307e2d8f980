import Foundation
import MapperTestSupport
import Testing

@testable import MapperCore

/// A file backend's allocation answers (`SEEK_DATA`/`SEEK_HOLE` on a sparse file).
@Suite("file backend allocation")
struct FileBackendAllocationTests {
    @Test("zeroRun answers with one SEEK_DATA what the allocation walk reports as the zero run from a sector")
    func zeroRun() async throws {
        let fixture = try EngineFixture()
        let backend = try await fixture.backend("f", sectors: 2048)
        // Data in [0, 4 KiB) and [512 KiB, 516 KiB); holes elsewhere up to 1 MiB.
        let handle = try FileHandle(forWritingTo: fixture.directory.appendingPathComponent("f.img"))
        for offset in [0, 512 << 10] {
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data(repeating: 0x77, count: 4096))
        }
        try handle.close()
        let cases: [(sector: UInt64, sectors: UInt64, run: UInt64)] = [
            (0, 2048, 0),  // data at the start
            (8, 2040, 1016),  // the hole up to the second run of data
            (8, 100, 100),  // no further than asked
            (1024, 1024, 0),  // the second run of data
            (1032, 1016, 1016),  // a hole to the end of the file
        ]
        for entry in cases {
            #expect(backend.zeroRun(sector: entry.sector, sectors: entry.sectors) == entry.run, "\(entry)")
            let walked = backend.allocation(sector: entry.sector, sectors: entry.sectors, limit: 1).first
            #expect((walked?.zero == true ? min(walked?.sectors ?? 0, entry.sectors) : 0) == entry.run, "\(entry)")
        }
    }
}
