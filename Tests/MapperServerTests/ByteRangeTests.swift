import MapperCore
import MapperServer
import Testing

/// The HTTP entry point's one range check: what a data request may ask for before the
/// engine sees it in sectors.
@Suite("HTTP byte ranges")
struct ByteRangeTests {
    @Test(
        "a read's offset and length: multiples of 512, the length at least 512 and within the data limit",
        arguments: [
            ("0", "512", nil, 0, 1),
            ("4096", "8192", nil, 8, 16),
            ("0", "65536", nil, 0, 128),
            ("1", "512", Errno.EINVAL, 0, 0),
            ("512", "100", .EINVAL, 0, 0),
            ("0", "0", .EINVAL, 0, 0),
            ("-512", "512", .EINVAL, 0, 0),
            ("x", "512", .EINVAL, 0, 0),
            ("0", "66048", .E2BIG, 0, 0),
            (nil, "512", .EINVAL, 0, 0),
            ("0", nil, .EINVAL, 0, 0),
        ] as [(String?, String?, Errno?, UInt64, UInt64)])
    func readRange(offset: String?, length: String?, errno: Errno?, sector: UInt64, sectors: UInt64) {
        do {
            let range = try ByteRange(offset: offset, length: length, maxLength: 65536)
            #expect(errno == nil)
            #expect((range.sector, range.sectors) == (sector, sectors))
        } catch let error as MapperError {
            #expect(error.errno == errno)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(
        "a write's length is its body's: a positive multiple of 512",
        arguments: [(512, nil), (4096, nil), (0, Errno.EINVAL), (100, .EINVAL), (513, .EINVAL)] as [(Int, Errno?)])
    func writeRange(bodyLength: Int, errno: Errno?) {
        do {
            let range = try ByteRange(offset: 1024, bodyLength: bodyLength)
            #expect(errno == nil)
            #expect((range.sector, range.sectors) == (2, UInt64(bodyLength / 512)))
        } catch let error as MapperError {
            #expect(error.errno == errno)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
