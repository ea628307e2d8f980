import Foundation
import HTTPTypes
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
        default: return 500
        }
    }

    /// The codes the spec lists; any other errno is reported as EIO (its number stays in the
    /// detail).
    static let codes: Set<String> = [
        "EINVAL", "EACCES", "ENOENT", "EEXIST", "EBUSY", "EROFS", "EINTR", "E2BIG", "EAGAIN", "ENOMEM", "ENOSPC",
        "EIO", "ENODEV", "EPERM", "ENOTSUP",
    ]

    static func code(for errno: Errno) -> String {
        codes.contains(errno.name) ? errno.name : "EIO"
    }

    /// Maps any error thrown while serving a request.
    public static func problem(for error: any Error) -> Problem {
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
            if let underlying = error.underlyingError as? MapperError ?? nil { return problem(for: underlying) }
            return problem(for: error.underlyingError, operation: error.operationID)
        case let error as DecodingError:
            return make(400, code: "EINVAL", detail: "bad request body: \(describe(error))")
        default:
            return make(500, code: "EIO", detail: "\(error)")
        }
    }

    private static func problem(for underlying: any Error, operation: String) -> Problem {
        switch underlying {
        case is MapperError, is BioFailure, is StoreError, is DecodingError:
            return problem(for: underlying)
        default:
            // Request decoding failures of the generated code (missing or malformed parameters,
            // unsupported content types) are the client's.
            let text = "\(underlying)"
            if text.contains("Unexpected content type") || text.contains("unexpected content type") {
                return make(400, code: "EINVAL", detail: "\(operation): unsupported content type")
            }
            return make(400, code: "EINVAL", detail: "\(operation): \(text)")
        }
    }

    static func make(_ status: Int, code: String, detail: String) -> Problem {
        Problem(
            type: "https://mapperd.dev/problems/\(code.lowercased())", title: title(status), status: status,
            detail: detail, code: code)
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
