import Hummingbird
import MapperCore

/// Requires `Authorization: Bearer <token>` on every request but `GET /v1/health` when the
/// server has a token (EACCES, 401, otherwise).
struct BearerAuth: Sendable {
    let token: String

    func check(_ request: Request) throws {
        if request.method == .get && request.uri.path == "/v1/health" { return }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            Self.constantTimeEquals(String(header.dropFirst(7)), token)
        else {
            throw MapperError(.EACCES, "a valid bearer token is required")
        }
    }

    /// Compares without an early exit, so timing does not reveal the matching prefix.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }
}
