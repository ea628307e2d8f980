import Foundation
import HTTPTypes
import MapperCore
import OpenAPIRuntime

/// Request-body rules the generated decoders cannot express:
/// - a request without a Content-Type and without bytes has no body, so operations whose body
///   is optional (suspend, resume) see none instead of failing to decode an empty document;
/// - `createDevice` refuses `"table": null` (the table is an object or absent; Codable alone
///   would read null as absent).
struct EmptyBodyMiddleware: ServerMiddleware {
    let limit: Int

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let body else { return try await next(request, nil, metadata) }
        if request.headerFields[.contentType] == nil {
            let bytes = try await [UInt8](collecting: body, upTo: limit)
            return try await next(request, bytes.isEmpty ? nil : HTTPBody(bytes), metadata)
        }
        if operationID == "createDevice" {
            let bytes = try await [UInt8](collecting: body, upTo: limit)
            if let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                object["table"] is NSNull
            {
                throw MapperError(.EINVAL, "table must be an object (or absent)")
            }
            return try await next(request, HTTPBody(bytes), metadata)
        }
        return try await next(request, body, metadata)
    }
}
