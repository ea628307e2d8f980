import Synchronization

/// One outside client's use of one device (an NBD connection, say): the one door an export
/// goes through into the engine. It opens the device for the client (a forced removal
/// revokes it), makes and submits the client's bios with the engine's admission (the queue
/// limits), tells the client when a refused bio may be tried again, and closes the open.
///
/// Threading: ``makeBio(op:sector:sectors:buffer:bufferOffset:endIO:)``, ``submit(_:)`` and
/// ``waitForRoom(_:)`` from any thread; ``close()`` once, after which the session submits nothing.
///
/// Bio ids: the session takes them from the engine in blocks of ``idBlockSize``, so that
/// sessions on different CPUs do not write one shared counter per request. Ids stay unique
/// over the engine; across sessions they are ordered only by block.
///
/// A client that makes its bios on one thread at a time (an NBD connection on its event loop)
/// makes them through a ``BioCache`` of its own instead: ids without the session's lock, and
/// ended bios renewed rather than allocated.
public final class ExportSession: Sendable {
    /// What a submission came to.
    public enum Submission: Sendable {
        /// The bio is in the engine; it ends through its end-I/O receiver (or ``Bio/wait()``).
        case submitted(Bio)
        /// The queue limits refused it (EAGAIN): nothing was submitted. ``waitForRoom(_:)``
        /// with the ticket says when to try again.
        case refused(RoomTicket)
        /// The request itself is wrong (EINVAL beyond the end, EROFS, ENODEV after removal):
        /// nothing was submitted.
        case failed(Errno)
    }

    /// The engine's held-I/O generation seen before a refused submission: room freed after
    /// it wakes the waiter, so no release between the refusal and the wait is missed.
    public struct RoomTicket: Sendable {
        let generation: UInt64
    }

    public let device: MappedDevice
    private let engine: EngineServices
    private let open: Holders.ExternalOpen
    /// The ids left in the session's block (empty: take a new block).
    private let ids = Mutex<ClosedRange<UInt64>?>(nil)
    /// Ids per block.
    public static let idBlockSize: UInt64 = 1024

    /// Opens `device` for a client; `revoke` must end the client's connection (called when
    /// the device is removed with force).
    public init(device: MappedDevice, manager: DeviceManager, revoke: @escaping @Sendable () -> Void) {
        self.device = device
        self.engine = manager.engine
        self.open = device.holders.openExternal(revoke: revoke)
    }

    /// A new bio for one of the client's requests, with an engine-unique id.
    public func makeBio(
        op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?, bufferOffset: Int = 0,
        endIO: (any BlockIOCompletion)? = nil
    ) -> Bio {
        Bio(
            id: nextID(), op: op, sector: sector, sectors: sectors, buffer: buffer,
            bufferOffset: bufferOffset, endIO: endIO)
    }

    private func nextID() -> UInt64 {
        ids.withLock { block in
            let range = block ?? reserveIDBlock()
            block = range.lowerBound < range.upperBound ? (range.lowerBound + 1)...range.upperBound : nil
            return range.lowerBound
        }
    }

    /// A new block of ``idBlockSize`` engine-unique bio ids.
    func reserveIDBlock() -> ClosedRange<UInt64> {
        engine.reserveBioIDBlock(count: Self.idBlockSize)
    }

    /// Submits `bio` (made by ``makeBio(op:sector:sectors:buffer:bufferOffset:endIO:)``) to the
    /// device. It may end before this returns.
    public func submit(_ bio: Bio) -> Submission {
        // Read before the attempt: a release between a refusal and the wait then still counts.
        let generation = engine.heldIO.generation
        do {
            try device.submit(bio)
            return .submitted(bio)
        } catch let error as MapperError where error.errno == .EAGAIN {
            return .refused(RoomTicket(generation: generation))
        } catch let error as MapperError {
            return .failed(error.errno)
        } catch {
            return .failed(.EIO)
        }
    }

    /// Waits until the engine has released held bytes since `ticket` was taken; `false` if the
    /// task was cancelled first.
    public func waitForRoom(_ ticket: RoomTicket) async -> Bool {
        await engine.heldIO.waitForRoom(since: ticket.generation)
    }

    /// Ends the client's open of the device (a second call does nothing).
    public func close() {
        device.holders.closeExternal(open)
    }
}
