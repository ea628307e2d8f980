import HTTPTypes
import OpenAPIRuntime

/// A request without a Content-Type and without bytes has no body: operations whose body is
/// optional (suspend, resume) then see none, instead of failing to decode an empty document.
struct EmptyBodyMiddleware: ServerMiddleware {
    let limit: Int

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let body, request.headerFields[.contentType] == nil else {
            return try await next(request, body, metadata)
        }
        let bytes = try await [UInt8](collecting: body, upTo: limit)
        return try await next(request, bytes.isEmpty ? nil : HTTPBody(bytes), metadata)
    }
}
