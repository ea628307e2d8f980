import NIOCore

// Ending: a shutdown or a DISC drains the connection, then closes it.
extension NBDConnectionHandler {
    func beginShutdown(_ context: ChannelHandlerContext) {
        perform(transmission.shutdown(), context)
    }

    /// Closes once every outstanding bio has ended or is durably queued, or when
    /// ``Limits/closeDeadline`` has passed, whichever comes first. A bio still in flight then
    /// (stalled in a path, say) is left to the engine: it ends as the device ends it, and its
    /// reply has nowhere to go; a journaled one lands later.
    func drainThenClose(_ context: ChannelHandlerContext) {
        abandonParked(context)
        let bios = outstanding.values.compactMap(\.bio)
        let tasks = Array(unaligned.values)
        let channel = context.channel
        if bios.isEmpty && tasks.isEmpty {
            channel.close(promise: nil)
            return
        }
        let deadline = ContinuousClock.now + limits.closeDeadline
        let logger = self.logger
        Task {
            let settled = await NBDCloseDrain.settle(bios: bios, tasks: tasks, until: deadline)
            if !settled {
                logger.warning(
                    "NBD connection closed at its deadline with requests still in flight",
                    metadata: ["deadline": "\(deadline)"])
            }
            // Let replies written on the loop go out before closing.
            channel.eventLoop.execute {
                channel.flush(); channel.close(promise: nil)
            }
        }
    }
}
