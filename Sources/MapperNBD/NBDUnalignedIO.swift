import MapperCore

/// Serves one request that is not aligned to 512-byte sectors, from a client that did not
/// agree to the advertised block sizes (the spec's default minimum block size is 1), the way
/// nbdkit's blocksize filter does:
/// - `READ`: reads every sector the range touches and answers with the requested slice;
/// - `WRITE`: read-modify-write: reads the partial head and tail sectors, patches the payload
///   in and writes every touched sector in one bio;
/// - `WRITE_ZEROES`: zeroes the bytes of the partial sectors by read-modify-write, and the
///   whole sectors between them as an aligned request would (a discard, or written zeros
///   with `NO_HOLE`);
/// - `TRIM`: discards the whole sectors inside the range only; the partial ones are left as
///   they are (a trim is advisory, and the contents after a trim are unspecified).
/// `FUA` adds a flush after the last write. The partial sectors are locked
/// (``NBDSectorLocks``) from the read to the write, so two read-modify-writes on one sector,
/// from any connection, run one after the other.
///
/// Runs as a task, off the event loop: each bio is submitted and awaited; a bio refused at
/// the queue limits (`EAGAIN`) is submitted again once there is room.
struct NBDUnalignedIO: Sendable {
    /// What the request produced: an error, or for a read the bytes to send.
    struct Outcome: Sendable {
        var error: Errno?
        /// For a read: the buffer holding the covering sectors, and where the range starts.
        var data: IOBuffer?
        var dataOffset = 0
    }

    let session: ExportSession
    let locks: NBDSectorLocks
    let export: String

    /// Serves `request` (already validated; not aligned).
    func run(_ request: NBDRequest) async -> Outcome {
        let span = NBDUnalignedSpan(offset: request.offset, length: UInt64(request.length))
        let fua = request.has(NBD.cmdFlagFUA)
        let error: Errno?
        switch request.type {
        case NBD.cmdRead:
            let buffer = IOBuffer.uninitialized(count: span.covering.count << 9)
            error = await io(.read, span.covering.lowerBound, UInt64(span.covering.count), buffer)
            return Outcome(error: error, data: error == nil ? buffer : nil, dataOffset: span.offsetInCovering)
        case NBD.cmdWrite:
            guard let payload = request.payload else { return Outcome(error: .EINVAL) }
            error = await write(span, payload: payload)
        case NBD.cmdWriteZeroes:
            error = await zero(span, noHole: request.has(NBD.cmdFlagNoHole))
        case NBD.cmdTrim:
            error = span.middle.isEmpty ? nil : await io(.discard, span.middle.lowerBound, UInt64(span.middle.count), nil)
        default:
            return Outcome(error: .EINVAL)
        }
        if error == nil && fua { return Outcome(error: await io(.flush, 0, 0, nil)) }
        return Outcome(error: error)
    }

    private func write(_ span: NBDUnalignedSpan, payload: IOBuffer) async -> Errno? {
        let sectors = span.partials.map(\.sector)
        await locks.lock(export, sectors: sectors)
        let buffer = IOBuffer.uninitialized(count: span.covering.count << 9)
        var error: Errno?
        for partial in span.partials where error == nil {
            let at = Int(partial.sector - span.covering.lowerBound) << 9
            error = await io(.read, partial.sector, 1, buffer, at: at)
        }
        if error == nil {
            buffer.pointer(at: span.offsetInCovering).copyMemory(from: payload.base, byteCount: Int(span.length))
            error = await io(.write, span.covering.lowerBound, UInt64(span.covering.count), buffer)
        }
        await locks.unlock(export, sectors: sectors)
        return error
    }

    private func zero(_ span: NBDUnalignedSpan, noHole: Bool) async -> Errno? {
        let sectors = span.partials.map(\.sector)
        await locks.lock(export, sectors: sectors)
        var error: Errno?
        for partial in span.partials where error == nil {
            let buffer = IOBuffer.uninitialized(count: 512)
            error = await io(.read, partial.sector, 1, buffer)
            if error == nil {
                buffer.zero(offset: partial.from, length: partial.count)
                error = await io(.write, partial.sector, 1, buffer)
            }
        }
        await locks.unlock(export, sectors: sectors)
        guard error == nil, !span.middle.isEmpty else { return error }
        guard noHole else { return await io(.discard, span.middle.lowerBound, UInt64(span.middle.count), nil) }
        let chunk = UInt64(NBDConnectionHandler.zeroChunk >> 9)
        var next = span.middle.lowerBound
        while next < span.middle.upperBound {
            let count = min(chunk, span.middle.upperBound - next)
            if let failed = await io(.write, next, count, NBDConnectionHandler.zeros) { return failed }
            next += count
        }
        return nil
    }

    /// Submits one bio and waits for its end; retries a refusal at the queue limits once
    /// there is room.
    private func io(_ op: BioOp, _ sector: UInt64, _ sectors: UInt64, _ buffer: IOBuffer?, at offset: Int = 0)
        async -> Errno?
    {
        while true {
            let bio = session.makeBio(op: op, sector: sector, sectors: sectors, buffer: buffer, bufferOffset: offset)
            switch session.submit(bio) {
            case .submitted:
                return await bio.wait()
            case .refused(let ticket):
                guard await session.waitForRoom(ticket) else { return .EIO }
            case .failed(let errno):
                return errno
            }
        }
    }
}
