import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Ctrl-C: clears a progress line, says what was interrupted, and exits 130 (128 + SIGINT), as
/// shells expect. Nothing mapperctl does needs undoing: a wait holds no server state, and a
/// request already sent (a suspend, say) carries on in the server.
enum Interrupt {
    nonisolated(unsafe) private static var source: (any DispatchSourceSignal)?

    static func install() {
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            Progress.clearLine()
            Terminal.standardError("mapperctl: interrupted\n")
            // Flush what was printed, then leave at once: exit()'s atexit handlers can wait
            // on the networking threads that are mid-request.
            fflush(nil)
            _exit(130)
        }
        source.resume()
        Self.source = source
    }
}
