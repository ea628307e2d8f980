import Synchronization

/// One I/O whose end a task awaits (a mirror log's load and commits). The I/O's end resumes
/// the task; no thread waits.
final class AwaitedIO: BlockIOCompletion {
    private let state = Mutex<(outcome: Errno??, continuation: CheckedContinuation<Errno?, Never>?)>((nil, nil))

    /// Submits an I/O to `device`; await its error with ``outcome()``.
    static func start(
        _ op: BioOp, on device: any BlockDevice, sector: UInt64 = 0, sectors: UInt64 = 0, buffer: IOBuffer? = nil
    ) -> AwaitedIO {
        let io = AwaitedIO()
        device.submit(
            BlockRequest(op: op, sector: sector, sectors: sectors, buffer: buffer, bufferOffset: 0, completion: io))
        return io
    }

    /// Awaits I/Os started side by side; returns the first error among them (`nil`: all
    /// succeeded) once every one has ended.
    static func all(_ ios: [AwaitedIO]) async -> Errno? {
        var first: Errno?
        for io in ios {
            if let error = await io.outcome(), first == nil { first = error }
        }
        return first
    }

    func endIO(_ error: Errno?) {
        let waiter = state.withLock { state -> CheckedContinuation<Errno?, Never>? in
            state.outcome = .some(error)
            defer { state.continuation = nil }
            return state.continuation
        }
        waiter?.resume(returning: error)
    }

    /// The I/O's error (`nil`: success), once it has ended.
    func outcome() async -> Errno? {
        await withCheckedContinuation { continuation in
            let ended = state.withLock { state -> Errno?? in
                if let outcome = state.outcome { return outcome }
                state.continuation = continuation
                return nil
            }
            if let ended { continuation.resume(returning: ended) }
        }
    }
}
