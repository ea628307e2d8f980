import Hummingbird
import MapperCore

/// Caps request bodies: JSON and text at `jsonLimit` (collected here, so later stages read a
/// bounded buffer), octet-stream data at `dataLimit` (checked here by Content-Length and again
/// while the data handler streams it). Over the limit: E2BIG (413).
struct BodyLimits: Sendable {
    let jsonLimit: Int
    let dataLimit: Int

    func apply(to request: inout Request) async throws {
        let isData = request.headers[.contentType]?.hasPrefix("application/octet-stream") == true
        let limit = isData ? dataLimit : jsonLimit
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw MapperError(.E2BIG, "request body of \(length) bytes exceeds the limit of \(limit)")
        }
        guard !isData, request.method != .get, request.method != .head else { return }
        do {
            _ = try await request.collectBody(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw MapperError(.E2BIG, "request body exceeds the limit of \(limit) bytes")
        }
    }
}
