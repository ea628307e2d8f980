import Foundation
import HTTPTypes
import Hummingbird
import MapperCore
import MapperStore
import OpenAPIRuntime

/// The one place where errors become problem+json (RFC 9457) with a stable errno `code`.
public enum ProblemMapping {
    /// A problem document.
    public struct Problem: Codable, Sendable, Equatable {
        public var type: String
        public var title: String
        public var status: Int
        public var detail: String
        public var code: String
        /// The methods a 405 names in `Allow` (not part of the document).
        public var allow: [String]? = nil

        enum CodingKeys: String, CodingKey { case type, title, status, detail, code }
    }

    /// The status for an errno raised by the engine or the server.
    static func status(for errno: Errno) -> Int {
        switch errno {
        case .EINVAL: return 400
        case .EACCES, .EPERM: return 401
        case .ENOENT, .ENODEV: return 404
        case .EEXIST, .EBUSY, .EROFS, .EINTR: return 409
        case .E2BIG: return 413
        case .EAGAIN: return 503
        case .ENOSPC: return 507
        case .ECONNREFUSED, .EHOSTUNREACH, .ENOTCONN: return 502
        case .ETIMEDOUT: return 504
        default: return 500
        }
    }

    /// The codes the spec lists; any other errno is reported as EIO (its number stays in the
    /// detail).
    static let codes: Set<String> = [
        "EINVAL", "EACCES", "ENOENT", "EEXIST", "EBUSY", "EROFS", "EINTR", "E2BIG", "EAGAIN", "ENOMEM", "ENOSPC",
        "EIO", "ENODEV", "EPERM", "ENOTSUP", "ECONNREFUSED", "EHOSTUNREACH", "ETIMEDOUT", "ENOTCONN",
    ]

    static func code(for errno: Errno) -> String {
        codes.contains(errno.name) ? errno.name : "EIO"
    }

    /// Maps any error thrown while serving a request. `method` and `path` (when known) turn
    /// Hummingbird's 404 for a known path with another method into 405 naming the allowed
    /// methods.
    public static func problem(for error: any Error, method: HTTPRequest.Method? = nil, path: String? = nil) -> Problem
    {
        switch error {
        case let error as MapperError:
            return make(status(for: error.errno), code: code(for: error.errno), detail: error.message)
        case let failure as BioFailure:
            return make(
                502, code: code(for: failure.errno),
                detail: "bio \(failure.bioID) failed: the block I/O returned \(failure.errno.name)")
        case let error as StoreError:
            return problem(for: error.mapperError)
        case let error as ServerError:
            switch error.underlyingError {
            case is MapperError, is BioFailure, is StoreError, is DecodingError:
                return problem(for: error.underlyingError)
            default:
                // Everything else the generated layer throws is a request it could not decode
                // (missing or malformed parameters, unsupported content types): the client's.
                return make(400, code: "EINVAL", detail: "\(error.operationID): \(error.underlyingError)")
            }
        case let error as DecodingError:
            return make(400, code: "EINVAL", detail: "bad request body: \(describe(error))")
        case let error as HTTPError:
            return problem(for: error, method: method, path: path)
        default:
            return make(500, code: "EIO", detail: "\(error)")
        }
    }

    /// Hummingbird's own errors (no route, bad request framing, body too large).
    private static func problem(for error: HTTPError, method: HTTPRequest.Method?, path: String?) -> Problem {
        let status = Int(error.status.code)
        if status == 404, let method, let path, let allowed = RouteTable.methods(for: path),
            !allowed.contains(method.rawValue)
        {
            return make(
                405, code: "EINVAL",
                detail: "\(method.rawValue) is not allowed on \(path); allowed: \(allowed.joined(separator: ", "))",
                allow: allowed)
        }
        let code: Errno
        switch status {
        case 401: code = .EACCES
        case 404: code = .ENOENT
        case 413: code = .E2BIG
        case 400..<500: code = .EINVAL
        default: code = .EIO
        }
        let detail = error.body ?? (status == 404 ? "no such resource: \(path ?? "")" : error.status.reasonPhrase)
        return make(status, code: code.name, detail: detail)
    }

    /// The headers of a problem response: content type, `WWW-Authenticate` on 401,
    /// `Retry-After` on 503, `Allow` on 405.
    static func headers(for problem: Problem) -> HTTPFields {
        var headers: HTTPFields = [.contentType: contentType]
        if problem.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        if problem.status == 503 { headers[.retryAfter] = "1" }
        if let allow = problem.allow { headers[.allow] = allow.joined(separator: ", ") }
        return headers
    }

    static func make(_ status: Int, code: String, detail: String, allow: [String]? = nil) -> Problem {
        Problem(
            type: "https://mapperd.dev/problems/\(code.lowercased())", title: title(status), status: status,
            detail: detail, code: code, allow: allow)
    }

    static func title(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 507: return "Insufficient Storage"
        default: return HTTPResponse.Status(code: status).reasonPhrase
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context), .keyNotFound(_, let context), .typeMismatch(_, let context),
            .valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// The JSON body of a problem.
    static func body(_ problem: Problem) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(problem)) ?? Data("{\"code\":\"EIO\"}".utf8)
    }

    static let contentType = "application/problem+json"
}
