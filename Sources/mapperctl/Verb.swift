import ArgumentParser
import Foundation
import OpenAPIRuntime

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A mapperctl verb: parses its arguments, then ``execute(_:)`` talks to the server. Any
/// failure comes out as a ``CommandFailure`` labelled with the verb and its positional
/// arguments; usage errors (``ValidationError``) stay usage errors (exit status 2).
protocol Verb: AsyncParsableCommand {
    var global: GlobalOptions { get }
    /// The verb and its positional arguments, as error messages start (`remove nosuch`).
    var label: String { get }
    func execute(_ api: API) async throws
}

extension Verb {
    mutating func run() async throws {
        do {
            try await execute(try API(global))
        } catch let error as ValidationError {
            throw error
        } catch {
            throw Self.failure(error, label: label, url: global.url)
        }
    }

    static func failure(_ error: any Error, label: String, url: String) -> CommandFailure {
        var error = error
        // The generated client wraps what a middleware or the transport threw.
        while let wrapped = error as? ClientError { error = wrapped.underlyingError }
        switch error {
        case let problem as ServerProblem:
            return CommandFailure(label: label, code: problem.code, detail: problem.detail)
        case let local as LocalFailure:
            return CommandFailure(label: label, code: local.code, detail: local.detail)
        case let urlError as URLError:
            let (code, what): (String?, String) =
                switch urlError.code {
                case .cannotConnectToHost: ("ECONNREFUSED", "connection refused")
                case .timedOut: ("ETIMEDOUT", "timed out")
                case .cannotFindHost, .dnsLookupFailed: ("EHOSTUNREACH", "unknown host")
                case .networkConnectionLost: ("ENOTCONN", "connection lost")
                default: (nil, urlError.localizedDescription)
                }
            return CommandFailure(label: label, code: code, detail: "cannot reach \(url): \(what)")
        default:
            return CommandFailure(label: label, code: nil, detail: "\(error)")
        }
    }

    /// Prints a value as the API's JSON (keys sorted, dates ISO 8601).
    func printJSON(_ value: some Encodable) throws {
        print(try Output.json(value))
    }
}
