import Foundation
import HTTPTypes
import Hummingbird
import MapperCore

/// The one router middleware, run for every request: the bearer token (``BearerAuth``), the
/// body limits (``BodyLimits``), then the route; every error thrown there or by the route
/// (engine errors, unknown routes, Hummingbird's own errors) becomes problem+json through
/// ``ProblemMapping``. A known path with another method is 405 with `Allow`. One middleware
/// rather than three keeps the per-request cost down.
///
/// Every error answer also drains what the client is still sending of its body (at most
/// `drainLimit` bytes, see ``RequestBodyTap``), unless the client waits for
/// `100-continue` and so has sent nothing yet; past the limit the answer says
/// `Connection: close`.
struct EdgeMiddleware<Context: RequestContext>: RouterMiddleware {
    let auth: BearerAuth?
    let limits: BodyLimits
    let drainLimit: Int

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let sending = Self.mayStillBeSending(request)
        // Data bodies are streamed by the data route, which drains its own on error (a tap
        // on the hot path would cost every write); other bodies (JSON, text: small, rare) are
        // read through a tap so that a partly read one can be drained too.
        let isData = request.headers[.contentType]?.hasPrefix("application/octet-stream") == true
        let tap = sending && !isData ? RequestBodyTap(request.body) : nil
        var request = request
        if let tap { request.body = tap.requestBody }
        var response: Response
        // Until a route runs, the body is as the client sent it.
        var untouched = true
        do {
            try auth?.check(request)
            try await limits.apply(to: &request)
            untouched = false
            response = try await next(request, context)
        } catch {
            // Hummingbird's own errors (no such route) come before any route read the body.
            if error is HTTPError { untouched = true }
            response = Self.response(ProblemMapping.problem(for: error, method: request.method, path: request.uri.path))
        }
        if response.status.code >= 400, sending {
            var drained = true
            if let tap {
                drained = await tap.drain(upTo: drainLimit)
            } else if untouched {
                drained = await RequestBodyTap(request.body).drain(upTo: drainLimit)
            }
            if !drained { response.headers[.connection] = "close" }
        }
        return response
    }

    /// Whether the client may be sending a body it has not finished.
    private static func mayStillBeSending(_ request: Request) -> Bool {
        if request.headers[.expect]?.lowercased() == "100-continue" { return false }
        if let length = request.headers[.contentLength].flatMap(Int.init) { return length > 0 }
        return request.headers[.transferEncoding] != nil
    }

    static func response(_ problem: ProblemMapping.Problem) -> Response {
        Response(
            status: .init(code: problem.status), headers: ProblemMapping.headers(for: problem),
            body: .init(byteBuffer: ByteBuffer(data: ProblemMapping.body(problem))))
    }
}
