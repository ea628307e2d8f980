import Foundation
import MapperCore
import MapperStore

/// Reads, writes and flushes for the data endpoints, with `Prefer: respond-async` and
/// `Idempotency-Key` handling. Used by the native data routes (read, write) and the
/// generated flush handler; public so that the engine benchmark submits bios through the same
/// door as HTTP.
public struct DataService: Sendable {
    let runtime: MapperRuntime

    public init(runtime: MapperRuntime) { self.runtime = runtime }

    /// How a write or flush request ended.
    public enum Outcome: Sendable {
        /// The bio completed successfully.
        case completed(bioID: UInt64)
        /// Accepted: durably queued, or not ended after the respond-async wait. The 202's body
        /// reports a queue state only if the journal has committed it (``BioSummary/reportedState``).
        case accepted(Bio, device: String)
    }

    /// Reads `range`; waits however long the I/O takes.
    public func read(device name: String, range: ByteRange) async throws -> (IOBuffer, UInt64) {
        let device = try runtime.manager.device(named: name)
        // A read overwrites all of its buffer before anyone sees it: no need to zero it.
        let bio = runtime.bios.makeBio(
            on: device, manager: runtime.manager, op: .read, sector: range.sector, sectors: range.sectors,
            buffer: IOBuffer.uninitialized(count: Int(range.length)))
        try submitRegistered(bio, to: device)
        // Most bios have ended inside submit (a file backend): no suspension point then.
        let ended: Errno?
        if let outcome = bio.ended { ended = outcome } else { ended = await bio.wait() }
        if let error = ended { throw BioFailure(errno: error, bioID: bio.id) }
        guard let buffer = bio.buffer else { throw MapperError(.EIO, "read bio without a buffer") }
        return (buffer, bio.id)
    }

    /// Writes `buffer` (of `range.length` bytes) at `range`.
    public func write(
        device name: String, range: ByteRange, buffer: IOBuffer, respondAsync: Bool, idempotencyKey: String?
    ) async throws -> Outcome {
        try await submit(
            device: name, op: .write, sector: range.sector, sectors: range.sectors, buffer: buffer,
            respondAsync: respondAsync, idempotencyKey: idempotencyKey)
    }

    /// Flushes the device.
    public func flush(device name: String, respondAsync: Bool, idempotencyKey: String?) async throws -> Outcome {
        try await submit(
            device: name, op: .flush, sector: 0, sectors: 0, buffer: nil, respondAsync: respondAsync,
            idempotencyKey: idempotencyKey)
    }

    private func submit(
        device name: String, op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, respondAsync: Bool,
        idempotencyKey: String?
    ) async throws -> Outcome {
        let device = try runtime.manager.device(named: name)
        guard let key = idempotencyKey else {
            let bio = runtime.bios.makeBio(
                on: device, manager: runtime.manager, op: op, sector: sector, sectors: sectors, buffer: buffer)
            try submitRegistered(bio, to: device)
            if let ended = bio.ended { return try Self.outcome(of: bio, ended: ended) }
            return try await outcome(of: bio, device: device, respondAsync: respondAsync)
        }
        guard !key.isEmpty, key.utf8.count <= 200 else {
            throw MapperError(.EINVAL, "Idempotency-Key must be 1 to 200 bytes")
        }
        if let earlier = try await earlierOutcome(device: device, key: key) { return earlier }
        let bio = runtime.manager.makeBio(
            op: op, sector: sector, sectors: sectors, buffer: buffer, idempotencyKey: key)
        switch runtime.bios.register(bio, device: device) {
        case (.ended(let earlier), _):
            return try Self.outcome(of: earlier)
        case (.live(let reported), let isNew):
            if isNew { try submitRegistered(bio, to: device) }
            return try await outcome(of: reported, device: device, respondAsync: respondAsync)
        }
    }

    /// Submits a registered bio. A refused one (EAGAIN at the queue limits, EROFS, ...) never
    /// reached the device: it is forgotten, so a retry with its key is a new attempt, and it is
    /// ended with the refusal's errno (which also lets its registry record go).
    private func submitRegistered(_ bio: Bio, to device: MappedDevice) throws {
        do {
            try device.submit(bio)
        } catch {
            runtime.bios.forget(bio.id)
            bio.fail((error as? MapperError)?.errno ?? .EIO)
            throw error
        }
    }

    /// An earlier bio with this key that left memory: from the journal (after a restart).
    private func earlierOutcome(device: MappedDevice, key: String) async throws -> Outcome? {
        if runtime.bios.contains(device: device, idempotencyKey: key) { return nil }  // handled by register
        guard let stored = try await runtime.store.bio(device: device.name, idempotencyKey: key) else { return nil }
        switch stored.state {
        case .completed: return .completed(bioID: stored.id)
        case .failed: throw BioFailure(errno: stored.error ?? .EIO, bioID: stored.id)
        default: return nil
        }
    }

    /// A bio that has ended: completed, or its failure thrown.
    private static func outcome(of bio: Bio, ended error: Errno?) throws -> Outcome {
        if let error { throw BioFailure(errno: error, bioID: bio.id) }
        return .completed(bioID: bio.id)
    }

    private static func outcome(of ended: BioSummary) throws -> Outcome {
        if let error = ended.error { throw BioFailure(errno: error, bioID: ended.id) }
        return .completed(bioID: ended.id)
    }

    /// With `respondAsync`, waits at most the configured time for the bio to end or be durably
    /// queued, and answers 202 if it has not ended by then; otherwise waits for it to end.
    /// A bio that entered a queue whose journal commit has not landed by the deadline is
    /// accepted as `inflight` (not durable): the server never waits for the commit past the
    /// deadline, and never claims a durability it lacks.
    private func outcome(of bio: Bio, device: MappedDevice, respondAsync: Bool) async throws -> Outcome {
        if respondAsync {
            let deadline = ContinuousClock.now + runtime.configuration.respondAsyncWait
            await bio.waitUntilEndedOrDurablyQueued(deadline: deadline)
            guard let ended = bio.ended else { return .accepted(bio, device: device.name) }
            return try Self.outcome(of: bio, ended: ended)
        }
        return try Self.outcome(of: bio, ended: await bio.wait())
    }
}
