/// Validation of a transmission request before any bio is made. A pure function, tested as
/// a table.
///
/// The rules follow `doc/proto.md` ("Command flags", "Error values", "Size constraints"):
/// - flags outside `FUA|NO_HOLE|DF|REQ_ONE|FAST_ZERO` → `EINVAL`;
/// - a known flag on a command it is not documented for → `EINVAL`: `NO_HOLE` and `FAST_ZERO`
///   belong to `WRITE_ZEROES`, `REQ_ONE` to `BLOCK_STATUS`, `DF` to `READ` only when
///   `NBD_FLAG_SEND_DF` is advertised (never, here), and `FUA` to every command only when
///   `NBD_FLAG_SEND_FUA` is advertised (writable exports);
/// - a write, trim or zero on a read-only export → `EPERM`;
/// - `BLOCK_STATUS` without `base:allocation` negotiated → `EINVAL`;
/// - a zero-length read, write, trim, zero, cache or block status → `EINVAL`;
/// - beyond the export's end: write and zero → `ENOSPC`, everything else → `EINVAL`;
/// - not a multiple of 512 (offset or length) → `EINVAL`, but only for a client that agreed
///   to the advertised block sizes (`NBD_OPT_GO` with an `NBD_INFO_BLOCK_SIZE` request); any
///   other client has the spec's default minimum block size of 1, and its unaligned reads,
///   writes, trims and zeroes are valid (served by read-modify-write, ``NBDUnalignedSpan``);
///   an unaligned `CACHE` or `BLOCK_STATUS` is valid for it too;
/// - a read over 32 MiB, or a write whose payload was discarded as too long → `EINVAL`.
///
/// nbdkit (`server/protocol.c`, `validate_request`) applies the same flag rules, except that
/// it advertises and accepts `DF` on reads, and it checks the read-only export and the range
/// before the flags (so a request with two faults may get another of its errors there).
enum NBDRequestCheck {
    static let knownFlags =
        NBD.cmdFlagFUA | NBD.cmdFlagNoHole | NBD.cmdFlagDF | NBD.cmdFlagReqOne | NBD.cmdFlagFastZero

    /// The error and message to answer with, or `nil` when the request is valid.
    /// `alignedOnly` says the client agreed to the 512-byte minimum block size.
    static func problem(
        _ request: NBDRequest, export: NBDExport, structuredReplies: Bool, baseAllocation: Bool,
        alignedOnly: Bool = true
    ) -> (UInt32, String)? {
        if let problem = flagProblem(request, export: export) { return problem }
        let type = request.type
        switch type {
        case NBD.cmdRead, NBD.cmdWrite, NBD.cmdTrim, NBD.cmdWriteZeroes, NBD.cmdCache, NBD.cmdBlockStatus: break
        default: return nil
        }
        let writes = type == NBD.cmdWrite || type == NBD.cmdTrim || type == NBD.cmdWriteZeroes
        if writes && export.readOnly { return (NBD.EPERM, "export '\(export.name)' is read-only") }
        if type == NBD.cmdBlockStatus && !(structuredReplies && baseAllocation) {
            return (NBD.EINVAL, "base:allocation was not negotiated")
        }
        if request.length == 0 { return (NBD.EINVAL, "length 0") }
        let (end, overflow) = request.offset.addingReportingOverflow(UInt64(request.length))
        if overflow || end > export.sizeBytes {
            let error = type == NBD.cmdWrite || type == NBD.cmdWriteZeroes ? NBD.ENOSPC : NBD.EINVAL
            return (error, "beyond the end of the export (\(export.sizeBytes) bytes)")
        }
        if alignedOnly && (request.offset % 512 != 0 || request.length % 512 != 0) {
            return (NBD.EINVAL, "offset and length must be multiples of 512")
        }
        if type == NBD.cmdRead && request.length > NBD.maximumPayload {
            return (NBD.EINVAL, "read larger than 32 MiB")
        }
        if request.payloadDiscarded { return (NBD.EINVAL, "write larger than 32 MiB") }
        return nil
    }

    /// The flag rules alone: unknown bits, and known flags on commands they do not belong to.
    static func flagProblem(_ request: NBDRequest, export: NBDExport) -> (UInt32, String)? {
        let flags = request.flags
        // Most requests carry no flag: nothing to look at (and no rule table to build).
        guard flags != 0 else { return nil }
        guard flags & ~knownFlags == 0 else {
            return (NBD.EINVAL, "unknown command flags 0x\(String(flags, radix: 16))")
        }
        let advertised = export.transmissionFlags
        let type = request.type
        let rules: [(flag: UInt16, name: String, allowed: Bool)] = [
            (NBD.cmdFlagFUA, "FUA", advertised & NBD.flagSendFUA != 0),
            (NBD.cmdFlagNoHole, "NO_HOLE", type == NBD.cmdWriteZeroes),
            (NBD.cmdFlagFastZero, "FAST_ZERO", type == NBD.cmdWriteZeroes && advertised & NBD.flagSendFastZero != 0),
            (NBD.cmdFlagDF, "DF", type == NBD.cmdRead && advertised & NBD.flagSendDF != 0),
            (NBD.cmdFlagReqOne, "REQ_ONE", type == NBD.cmdBlockStatus),
        ]
        for rule in rules where flags & rule.flag != 0 && !rule.allowed {
            return (NBD.EINVAL, "flag \(rule.name) is not valid on command \(type) of this export")
        }
        return nil
    }
}
