import Hummingbird
import NIOCore

/// A request body read through one shared iterator, so that whatever a handler left unread
/// can still be drained after it answered (or threw) early.
///
/// Why: a client that writes its whole body before it reads the answer (Python's `urllib`,
/// which also sends `Connection: close`) blocks on its socket if the server answers early and
/// never reads the rest; with `Connection: close` the HTTP server does not read it either.
/// ``drain(upTo:)`` reads and drops the rest, so the client finishes writing and gets the
/// answer at once.
///
/// Threading: one reader at a time (the handler, then the middleware after it returned); the
/// iterator is never used concurrently.
final class RequestBodyTap: @unchecked Sendable {
    private let body: RequestBody
    private var iterator: RequestBody.AsyncIterator?
    private var finished = false

    init(_ body: RequestBody) { self.body = body }

    /// The body as handlers read it.
    var requestBody: RequestBody { RequestBody(asyncSequence: Sequence(tap: self)) }

    fileprivate func next() async throws -> ByteBuffer? {
        if finished { return nil }
        if iterator == nil { iterator = body.makeAsyncIterator() }
        let chunk = try await iterator?.next()
        if chunk == nil { finished = true }
        return chunk
    }

    /// Reads and drops what is left of the body, at most `limit` bytes; returns whether the
    /// body was read to its end.
    func drain(upTo limit: Int) async -> Bool {
        var iterator = requestBody.makeAsyncIterator()
        return await Self.drain(&iterator, upTo: limit)
    }

    /// Reads and drops the rest of `iterator`, at most `limit` bytes; returns whether it was
    /// read to its end (a read error counts as not).
    static func drain(_ iterator: inout RequestBody.AsyncIterator, upTo limit: Int) async -> Bool {
        var drained = 0
        do {
            while let chunk = try await iterator.next() {
                drained += chunk.readableBytes
                if drained > limit { return false }
            }
            return true
        } catch {
            return false
        }
    }

    private struct Sequence: AsyncSequence, Sendable {
        typealias Element = ByteBuffer
        let tap: RequestBodyTap

        struct AsyncIterator: AsyncIteratorProtocol {
            let tap: RequestBodyTap
            mutating func next() async throws -> ByteBuffer? { try await tap.next() }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(tap: tap) }
    }
}
