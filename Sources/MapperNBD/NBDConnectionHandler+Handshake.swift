import MapperCore
import NIOCore

/// The handshake side of a connection: carrying out ``NBDNegotiation``'s actions and opening
/// the export's device for transmission.
extension NBDConnectionHandler {
    func act(
        _ action: NBDNegotiation.Action, out: inout ByteBuffer, context: ChannelHandlerContext, option: UInt32 = 0
    ) {
        switch action {
        case .proceed:
            decoder.continueOptions()
            if out.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(out), promise: nil) }
        case .transmit(let export):
            guard enterTransmission(export) else {
                // The device went away between the look-up and the open.
                if option == NBD.optGo {
                    out.clear()
                    NBDOptionReply.error(option, NBD.repErrUnknown, "no export named '\(export.name)'", into: &out)
                    decoder.continueOptions()
                    context.writeAndFlush(wrapOutboundOut(out), promise: nil)
                } else {
                    context.close(promise: nil)
                }
                return
            }
            decoder.beginTransmission()
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        case .startTLS:
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            do {
                try onTLS?(context)
                negotiation.tlsStarted()
                decoder.continueOptions()
            } catch {
                logger.warning("nbd TLS could not start", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }
        case .close(let reason):
            logger.debug("nbd handshake ended", metadata: ["connection": "\(stats.id)", "reason": "\(reason)"])
            if out.readableBytes > 0 {
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }

    /// Opens the device behind `export` for this connection.
    func enterTransmission(_ export: NBDExport) -> Bool {
        guard let device = exports.device(named: export.name), !closed, let channel = context?.channel else {
            return false
        }
        let session = ExportSession(device: device, manager: exports.manager, revoke: { channel.close(promise: nil) })
        self.session = session
        bios = BioCache(session: session)
        self.device = device
        self.export = export
        transmission.began()
        stats.setExport(export.name)
        logger.debug("nbd export opened", metadata: ["connection": "\(stats.id)", "export": "\(export.name)"])
        return true
    }

    func releaseDevice() {
        session?.close()
    }
}
