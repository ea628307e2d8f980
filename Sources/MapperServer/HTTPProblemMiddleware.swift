import Foundation
import HTTPTypes
import Hummingbird
import MapperCore

/// The outermost middleware: errors thrown before or around the OpenAPI operations (auth,
/// body limits, unknown routes, Hummingbird's own errors) become problem+json too, through
/// ``ProblemMapping``. A known path with another method is 405 with `Allow`.
///
/// Every error answer also drains what the client is still sending of its body (at most
/// `drainLimit` bytes, see ``RequestBodyTap``), unless the client waits for
/// `100-continue` and so has sent nothing yet; past the limit the answer says
/// `Connection: close`.
struct HTTPProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let drainLimit: Int

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let tap = RequestBodyTap(request.body)
        var request = request
        request.body = tap.requestBody
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.response(ProblemMapping.problem(for: error, method: request.method, path: request.uri.path))
        }
        if response.status.code >= 400, Self.mayStillBeSending(request), !(await tap.drain(upTo: drainLimit)) {
            response.headers[.connection] = "close"
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
