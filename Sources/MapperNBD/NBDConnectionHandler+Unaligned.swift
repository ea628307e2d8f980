import MapperCore
import NIOCore

/// Unaligned requests (a client that agreed no block sizes has a minimum block size of 1):
/// served by read-modify-write in a task, answered back on the connection's loop.
extension NBDConnectionHandler {
    /// An unaligned read, write, trim or zero from a client with a minimum block size of 1:
    /// served by ``NBDUnalignedIO`` in a task, answered back on the loop.
    func serveUnaligned(
        _ request: NBDRequest, device: MappedDevice, export: NBDExport, context: ChannelHandlerContext
    ) {
        guard let session else {
            reply(request, error: NBD.EIO, message: "no device", context: context)
            return
        }
        let io = NBDUnalignedIO(session: session, locks: sectorLocks, export: export.name)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        unalignedCount += 1
        let number = unalignedCount
        transmission.started(bytes: Int(request.length))
        stats.inFlight.add(1, ordering: .relaxed)
        unaligned[number] = Task {
            let outcome = await io.run(request)
            handler.eventLoop.execute { handler.value.unalignedEnded(number, request, outcome) }
        }
    }

    func unalignedEnded(_ number: UInt64, _ request: NBDRequest, _ outcome: NBDUnalignedIO.Outcome) {
        guard unaligned.removeValue(forKey: number) != nil else { return }
        stats.inFlight.add(-1, ordering: .relaxed)
        guard let context, !closed else {
            _ = transmission.ended(bytes: Int(request.length), now: Self.now)
            return
        }
        // The buffer lives until the reply has copied it.
        withExtendedLifetime(outcome.data) {
            replyEnded(
                request, error: outcome.error,
                data: outcome.data.map { UnsafeRawPointer($0.pointer(at: outcome.dataOffset)) },
                context: context)
        }
    }
}
