import NIOCore
import NIOSSL

/// TLS for the NBD export: PSK over TLS 1.2 through swift-nio-ssl (BoringSSL supports
/// external PSKs only up to TLS 1.2), started by `NBD_OPT_STARTTLS`.
///
/// The cipher suites are the PSK ones BoringSSL has, forward-secret first:
/// `ECDHE-PSK-CHACHA20-POLY1305`, `ECDHE-PSK-AES128-CBC-SHA`, `ECDHE-PSK-AES256-CBC-SHA`, then
/// plain `PSK-AES128-CBC-SHA`, `PSK-AES256-CBC-SHA`. GnuTLS clients (qemu, libnbd) offer
/// `ECDHE-PSK` in their default priority.
struct NBDTLS: Sendable {
    let context: NIOSSLContext

    init(keys: NBDPreSharedKeys) throws {
        var configuration = TLSConfiguration.makePreSharedKeyConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv12
        configuration.cipherSuites =
            "ECDHE-PSK-CHACHA20-POLY1305:ECDHE-PSK-AES128-CBC-SHA:ECDHE-PSK-AES256-CBC-SHA:PSK-AES128-CBC-SHA:PSK-AES256-CBC-SHA"
        let table = keys.keys
        configuration.pskServerProvider = { context in
            guard let key = table[context.clientIdentity] else { throw NBDConfigurationError("unknown PSK identity") }
            var bytes = NIOSSLSecureBytes()
            bytes.append(key)
            return PSKServerIdentityResponse(key: bytes)
        }
        context = try NIOSSLContext(configuration: configuration)
    }

    /// Puts TLS under everything else in `context`'s pipeline (called right after the
    /// `STARTTLS` ACK has been written, before the client's ClientHello arrives).
    func start(on context: ChannelHandlerContext) throws {
        try context.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: self.context), position: .first)
    }
}
