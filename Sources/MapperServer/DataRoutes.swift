import Foundation
import HTTPTypes
import Hummingbird
import MapperCore

/// Serves `GET`/`PUT /v1/devices/{name}/data` natively, ahead of the generated layer: a write's
/// bytes are copied once, from the socket's buffers into the bio's buffer, and a read's once,
/// from the bio's buffer into the response (the generated transport would add a copy of every
/// chunk each way). Same contract as the spec; errors are thrown and mapped to problem+json
/// by ``HTTPProblemMiddleware``.
struct DataRoutes<Context: RequestContext>: RouterMiddleware {
    let runtime: MapperRuntime
    var service: DataService { DataService(runtime: runtime) }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[1] == "v1", parts[2] == "devices", parts[4] == "data",
            request.method == .get || request.method == .put
        else {
            return try await next(request, context)
        }
        let name = String(parts[3]).removingPercentEncoding ?? String(parts[3])
        let query = request.uri.queryParameters
        let offset = try Self.number(query["offset"].map(String.init), "offset", minimum: 0)
        if request.method == .get {
            let length = try Self.number(query["length"].map(String.init), "length", minimum: 512)
            let (buffer, id) = try await service.read(device: name, offset: offset, length: length)
            let body = ByteBuffer(bytes: UnsafeRawBufferPointer(start: buffer.base, count: buffer.count))
            return Response(
                status: .ok,
                headers: [.contentType: "application/octet-stream", HeaderNames.bioID: String(id)],
                body: .init(byteBuffer: body))
        }
        let buffer = try await collect(request)
        let outcome = try await service.submit(
            device: name, op: .write, offset: offset, buffer: buffer,
            respondAsync: APIHandler.prefersAsync(request.headers[HeaderNames.prefer]),
            idempotencyKey: request.headers[HeaderNames.idempotencyKey])
        switch outcome {
        case .completed(let id):
            return Response(status: .noContent, headers: [HeaderNames.bioID: String(id)])
        case .accepted(let bio, let device):
            let json = try JSONEncoder.api.encode(DTO.bio(bio, device: device))
            return Response(
                status: .accepted,
                headers: [
                    .contentType: "application/json", .location: "/v1/bios/\(bio.id)",
                    HeaderNames.preferenceApplied: "respond-async", HeaderNames.bioID: String(bio.id),
                ],
                body: .init(byteBuffer: ByteBuffer(data: json)))
        }
    }

    /// The request body in a bio buffer, bounded by the data limit (E2BIG) and required to be a
    /// positive multiple of 512 bytes (EINVAL).
    private func collect(_ request: Request) async throws -> IOBuffer {
        let limit = runtime.configuration.maxDataBytes
        if let contentType = request.headers[.contentType], !contentType.hasPrefix("application/octet-stream") {
            throw MapperError(.EINVAL, "data must be sent as application/octet-stream")
        }
        guard let declared = request.headers[.contentLength].flatMap(Int.init) else {
            var collected = ByteBuffer()
            for try await chunk in request.body {
                guard collected.readableBytes + chunk.readableBytes <= limit else {
                    throw MapperError(.E2BIG, "request body exceeds the limit of \(limit) bytes")
                }
                var chunk = chunk
                collected.writeBuffer(&chunk)
            }
            return try Self.checked(IOBuffer(copying: collected.readableBytesView))
        }
        guard declared <= limit else {
            throw MapperError(.E2BIG, "request body of \(declared) bytes exceeds the limit of \(limit)")
        }
        let buffer = IOBuffer(count: declared)
        var filled = 0
        for try await chunk in request.body {
            guard filled + chunk.readableBytes <= declared else {
                throw MapperError(.EINVAL, "request body longer than its Content-Length")
            }
            chunk.withUnsafeReadableBytes { bytes in
                if let base = bytes.baseAddress {
                    buffer.pointer(at: filled).copyMemory(from: base, byteCount: bytes.count)
                }
            }
            filled += chunk.readableBytes
        }
        guard filled == declared else { throw MapperError(.EINVAL, "request body shorter than its Content-Length") }
        return try Self.checked(buffer)
    }

    private static func checked(_ buffer: IOBuffer) throws -> IOBuffer {
        guard buffer.count > 0, buffer.count % 512 == 0 else {
            throw MapperError(.EINVAL, "data length \(buffer.count) is not a positive multiple of 512")
        }
        return buffer
    }

    private static func number(_ text: String?, _ name: String, minimum: Int64) throws -> Int64 {
        guard let text else { throw MapperError(.EINVAL, "query parameter '\(name)' is required") }
        guard let value = Int64(text), value >= minimum, value % 512 == 0 else {
            throw MapperError(.EINVAL, "\(name) must be a multiple of 512 of at least \(minimum), not '\(text)'")
        }
        return value
    }
}

extension JSONEncoder {
    /// Dates as RFC 3339, as the generated layer writes them.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}
