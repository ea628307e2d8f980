/// Validation of a transmission request before any bio is made, as nbdkit's
/// `validate_request` does it (`server/protocol.c`). A pure function, tested as a table.
///
/// - flags outside `FUA|NO_HOLE|DF|REQ_ONE|FAST_ZERO` → `EINVAL` (a known flag on a command it
///   does not apply to is ignored; `FUA` is accepted on every command);
/// - a write, trim or zero on a read-only export → `EPERM`;
/// - `BLOCK_STATUS` without `base:allocation` negotiated → `EINVAL`;
/// - a zero-length read, write, trim, zero, cache or block status → `EINVAL`;
/// - beyond the export's end: write and zero → `ENOSPC`, everything else → `EINVAL`;
/// - not a multiple of 512 (offset or length) → `EINVAL`;
/// - a read over 32 MiB, or a write whose payload was discarded as too long → `EINVAL`.
enum NBDRequestCheck {
    static let knownFlags =
        NBD.cmdFlagFUA | NBD.cmdFlagNoHole | NBD.cmdFlagDF | NBD.cmdFlagReqOne | NBD.cmdFlagFastZero

    /// The error and message to answer with, or `nil` when the request is valid.
    static func problem(
        _ request: NBDRequest, export: NBDExport, structuredReplies: Bool, baseAllocation: Bool
    ) -> (UInt32, String)? {
        guard request.flags & ~knownFlags == 0 else {
            return (NBD.EINVAL, "unknown command flags 0x\(String(request.flags, radix: 16))")
        }
        let type = request.type
        let ranged = [NBD.cmdRead, NBD.cmdWrite, NBD.cmdTrim, NBD.cmdWriteZeroes, NBD.cmdCache, NBD.cmdBlockStatus]
        guard ranged.contains(type) else { return nil }
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
        if request.offset % 512 != 0 || request.length % 512 != 0 {
            return (NBD.EINVAL, "offset and length must be multiples of 512")
        }
        if type == NBD.cmdRead && request.length > NBD.maximumPayload {
            return (NBD.EINVAL, "read larger than 32 MiB")
        }
        if request.payloadDiscarded { return (NBD.EINVAL, "write larger than 32 MiB") }
        return nil
    }
}
