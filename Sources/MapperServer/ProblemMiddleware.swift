import Foundation
import HTTPTypes
import Logging
import OpenAPIRuntime

/// Restores `Location` headers to plain paths, and turns every error thrown by an operation (engine errors, bad input caught by the generated
/// decoders, failed bios) into its problem+json response, through ``ProblemMapping``.
struct ProblemMiddleware: ServerMiddleware {
    let logger: Logger

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        do {
            var (response, responseBody) = try await next(request, body, metadata)
            // The generated layer percent-encodes header values ("simple" style); a Location
            // is a path and must stay one.
            if let location = response.headerFields[.location], let decoded = location.removingPercentEncoding {
                response.headerFields[.location] = decoded
            }
            return (response, responseBody)
        } catch {
            let problem = ProblemMapping.problem(for: error)
            if problem.status >= 500 {
                logger.error(
                    "request failed", metadata: ["operation": "\(operationID)", "detail": "\(problem.detail)"])
            }
            let response = HTTPResponse(
                status: .init(code: problem.status), headerFields: ProblemMapping.headers(for: problem))
            return (response, HTTPBody(ProblemMapping.body(problem)))
        }
    }
}
