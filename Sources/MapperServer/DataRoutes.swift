import Foundation
import HTTPTypes
import Hummingbird
import MapperCore

/// Serves `GET`/`PUT /v1/devices/{name}/data` as ordinary routes, natively (the operations
/// are left out of generation): a write's bytes are copied once, from the socket's buffers
/// into the bio's buffer, and a read's once, from the bio's buffer into the response (the
/// generated transport would add a copy of every chunk each way). Same contract as the spec;
/// errors are thrown and mapped to problem+json by ``EdgeMiddleware``.
struct DataRoutes: Sendable {
    let runtime: MapperRuntime
    var service: DataService { DataService(runtime: runtime) }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/v1/devices/:name/data") { request, context in try await read(request, context) }
        router.put("/v1/devices/:name/data") { request, context in try await write(request, context) }
    }

    private static func name(_ context: BasicRequestContext) throws -> String {
        let raw = try context.parameters.require("name")
        return raw.removingPercentEncoding ?? raw
    }

    private func read(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let range = try ByteRange(
            offset: query["offset"].map(String.init), length: query["length"].map(String.init),
            maxLength: runtime.configuration.maxDataBytes)
        let (buffer, id) = try await service.read(device: Self.name(context), range: range)
        let body = ByteBuffer(bytes: UnsafeRawBufferPointer(start: buffer.base, count: buffer.count))
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream", HeaderNames.bioID: String(id)],
            body: .init(byteBuffer: body))
    }

    private func write(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let name = try Self.name(context)
        let offset = try ByteRange.offset(request.uri.queryParameters["offset"].map(String.init))
        let buffer = try await collect(request)
        let outcome = try await service.write(
            device: name, range: ByteRange(offset: offset, bodyLength: buffer.count), buffer: buffer,
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

    /// The request body in a bio buffer, bounded by the data limit (E2BIG; its length is
    /// ``ByteRange``'s to check). On any error the rest of the body is drained (bounded), so a
    /// client that writes before it reads gets the answer.
    private func collect(_ request: Request) async throws -> IOBuffer {
        let limit = runtime.configuration.maxDataBytes
        if let contentType = request.headers[.contentType], !contentType.hasPrefix("application/octet-stream") {
            throw MapperError(.EINVAL, "data must be sent as application/octet-stream")
        }
        var body = request.body.makeAsyncIterator()
        do {
            return try await Self.collect(
                &body, declared: request.headers[.contentLength].flatMap(Int.init), limit: limit)
        } catch {
            _ = await RequestBodyTap.drain(&body, upTo: runtime.configuration.drainLimit)
            throw error
        }
    }

    private static func collect(
        _ body: inout RequestBody.AsyncIterator, declared: Int?, limit: Int
    ) async throws -> IOBuffer {
        guard let declared else {
            var collected = ByteBuffer()
            while let chunk = try await body.next() {
                guard collected.readableBytes + chunk.readableBytes <= limit else {
                    throw MapperError(.E2BIG, "request body exceeds the limit of \(limit) bytes")
                }
                var chunk = chunk
                collected.writeBuffer(&chunk)
            }
            return IOBuffer(copying: collected.readableBytesView)
        }
        guard declared <= limit else {
            throw MapperError(.E2BIG, "request body of \(declared) bytes exceeds the limit of \(limit)")
        }
        let buffer = IOBuffer(count: declared)
        var filled = 0
        while let chunk = try await body.next() {
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
        return buffer
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
