import Testing

@testable import MapperNBD

/// Request validation as a table: each row a request and the error it must get.
@Suite("NBD request validation")
struct NBDRequestCheckTests {
    static let export = NBDExport(name: "d", description: "", sizeBytes: 1 << 20, readOnly: false)
    static let readOnly = NBDExport(name: "r", description: "", sizeBytes: 1 << 20, readOnly: true)

    struct Case: Sendable, CustomTestStringConvertible {
        var label: String
        var request: NBDRequest
        var readOnly = false
        var baseAllocation = true
        var alignedOnly = true
        var expected: UInt32?
        var testDescription: String { label }
    }

    static let cases: [Case] = [
        Case(label: "valid read", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: 0, length: 4096), expected: nil),
        Case(label: "valid write with FUA", request: .init(flags: NBD.cmdFlagFUA, type: NBD.cmdWrite, handle: 1, offset: 512, length: 512), expected: nil),
        Case(label: "FUA on a read is accepted (SEND_FUA advertised)", request: .init(flags: NBD.cmdFlagFUA, type: NBD.cmdRead, handle: 1, offset: 0, length: 512), expected: nil),
        Case(label: "FUA on a read-only export (no SEND_FUA)", request: .init(flags: NBD.cmdFlagFUA, type: NBD.cmdRead, handle: 1, offset: 0, length: 512), readOnly: true, expected: NBD.EINVAL),
        Case(label: "REQ_ONE on a read", request: .init(flags: NBD.cmdFlagReqOne, type: NBD.cmdRead, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "NO_HOLE on a read", request: .init(flags: NBD.cmdFlagNoHole, type: NBD.cmdRead, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "NO_HOLE on a write", request: .init(flags: NBD.cmdFlagNoHole, type: NBD.cmdWrite, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "NO_HOLE on a trim", request: .init(flags: NBD.cmdFlagNoHole, type: NBD.cmdTrim, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "NO_HOLE on write zeroes", request: .init(flags: NBD.cmdFlagNoHole, type: NBD.cmdWriteZeroes, handle: 1, offset: 0, length: 512), expected: nil),
        Case(label: "FAST_ZERO on write zeroes", request: .init(flags: NBD.cmdFlagFastZero | NBD.cmdFlagNoHole, type: NBD.cmdWriteZeroes, handle: 1, offset: 0, length: 512), expected: nil),
        Case(label: "FAST_ZERO on a write", request: .init(flags: NBD.cmdFlagFastZero, type: NBD.cmdWrite, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "DF on a read (SEND_DF not advertised)", request: .init(flags: NBD.cmdFlagDF, type: NBD.cmdRead, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "DF on a write", request: .init(flags: NBD.cmdFlagDF, type: NBD.cmdWrite, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "REQ_ONE on block status", request: .init(flags: NBD.cmdFlagReqOne, type: NBD.cmdBlockStatus, handle: 1, offset: 0, length: 512), expected: nil),
        Case(label: "REQ_ONE on a flush", request: .init(flags: NBD.cmdFlagReqOne, type: NBD.cmdFlush, handle: 1, offset: 0, length: 0), expected: NBD.EINVAL),
        Case(label: "FUA on a flush", request: .init(flags: NBD.cmdFlagFUA, type: NBD.cmdFlush, handle: 1, offset: 0, length: 0), expected: nil),
        Case(label: "unaligned read, minimum block size 1", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: 100, length: 7), alignedOnly: false, expected: nil),
        Case(label: "unaligned write, minimum block size 1", request: .init(flags: 0, type: NBD.cmdWrite, handle: 1, offset: 1, length: 1), alignedOnly: false, expected: nil),
        Case(label: "unaligned write past the end, minimum block size 1", request: .init(flags: 0, type: NBD.cmdWrite, handle: 1, offset: (1 << 20) - 1, length: 2), alignedOnly: false, expected: NBD.ENOSPC),
        Case(label: "zero length, minimum block size 1", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: 1, length: 0), alignedOnly: false, expected: NBD.EINVAL),
        Case(label: "flush", request: .init(flags: 0, type: NBD.cmdFlush, handle: 1, offset: 0, length: 0), expected: nil),
        Case(label: "unknown flag", request: .init(flags: 1 << 9, type: NBD.cmdRead, handle: 1, offset: 0, length: 512), expected: NBD.EINVAL),
        Case(label: "zero length read", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: 0, length: 0), expected: NBD.EINVAL),
        Case(label: "read beyond the end", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: 1 << 20, length: 512), expected: NBD.EINVAL),
        Case(label: "trim beyond the end", request: .init(flags: 0, type: NBD.cmdTrim, handle: 1, offset: (1 << 20) - 512, length: 1024), expected: NBD.EINVAL),
        Case(label: "write beyond the end", request: .init(flags: 0, type: NBD.cmdWrite, handle: 1, offset: 1 << 20, length: 512), expected: NBD.ENOSPC),
        Case(label: "zero beyond the end", request: .init(flags: 0, type: NBD.cmdWriteZeroes, handle: 1, offset: 1 << 20, length: 512), expected: NBD.ENOSPC),
        Case(label: "offset overflow", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: .max - 10, length: 512), expected: NBD.EINVAL),
        Case(label: "misaligned offset", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: 100, length: 512), expected: NBD.EINVAL),
        Case(label: "misaligned length", request: .init(flags: 0, type: NBD.cmdWrite, handle: 1, offset: 0, length: 100), expected: NBD.EINVAL),
        Case(label: "write to a read-only export", request: .init(flags: 0, type: NBD.cmdWrite, handle: 1, offset: 0, length: 512), readOnly: true, expected: NBD.EPERM),
        Case(label: "trim on a read-only export", request: .init(flags: 0, type: NBD.cmdTrim, handle: 1, offset: 0, length: 512), readOnly: true, expected: NBD.EPERM),
        Case(label: "read on a read-only export", request: .init(flags: 0, type: NBD.cmdRead, handle: 1, offset: 0, length: 512), readOnly: true, expected: nil),
        Case(label: "block status without base:allocation", request: .init(flags: 0, type: NBD.cmdBlockStatus, handle: 1, offset: 0, length: 512), baseAllocation: false, expected: NBD.EINVAL),
        Case(label: "write whose payload was discarded", request: .init(flags: 0, type: NBD.cmdWrite, handle: 1, offset: 0, length: 512, payloadDiscarded: true), expected: NBD.EINVAL),
    ]

    @Test("each request gets the error the spec asks for", arguments: cases)
    func check(_ row: Case) {
        let problem = NBDRequestCheck.problem(
            row.request, export: row.readOnly ? Self.readOnly : Self.export, structuredReplies: true,
            baseAllocation: row.baseAllocation, alignedOnly: row.alignedOnly)
        #expect(problem?.0 == row.expected, "\(problem?.1 ?? "no problem")")
    }

    @Test("a read over 32 MiB is refused even inside a big export")
    func bigRead() {
        let big = NBDExport(name: "b", description: "", sizeBytes: 1 << 30, readOnly: false)
        let request = NBDRequest(flags: 0, type: NBD.cmdRead, handle: 1, offset: 0, length: (32 << 20) + 512)
        #expect(NBDRequestCheck.problem(request, export: big, structuredReplies: true, baseAllocation: true)?.0 == NBD.EINVAL)
    }
}
