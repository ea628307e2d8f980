import Foundation
import HTTPTypes
import Hummingbird
import MapperCore

/// The outermost middleware: errors thrown before or around the OpenAPI operations (auth,
/// body limits, unknown routes, Hummingbird's own errors) become problem+json too, through
/// ``ProblemMapping``.
struct HTTPProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            if error.status == .notFound, let allowed = RouteTable.methods(for: request.uri.path),
                !allowed.contains(request.method.rawValue)
            {
                var response = Self.response(
                    ProblemMapping.make(
                        405, code: "EINVAL",
                        detail:
                            "\(request.method.rawValue) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))"
                    ))
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            let status = Int(error.status.code)
            let code: String
            switch status {
            case 401: code = "EACCES"
            case 404: code = "ENOENT"
            case 413: code = "E2BIG"
            case 405: code = "EINVAL"
            case 400..<500: code = "EINVAL"
            default: code = "EIO"
            }
            let detail =
                error.body ?? (status == 404 ? "no such resource: \(request.uri.path)" : error.status.reasonPhrase)
            return Self.response(ProblemMapping.make(status, code: code, detail: detail))
        } catch {
            return Self.response(ProblemMapping.problem(for: error))
        }
    }

    static func response(_ problem: ProblemMapping.Problem) -> Response {
        var headers: HTTPFields = [.contentType: ProblemMapping.contentType]
        if problem.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        if problem.status == 503 { headers[.retryAfter] = "1" }
        return Response(
            status: .init(code: problem.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(data: ProblemMapping.body(problem))))
    }
}
