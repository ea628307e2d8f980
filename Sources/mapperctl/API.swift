import Foundation
import HTTPTypes
import MapperAPI
import OpenAPIRuntime
import OpenAPIURLSession

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The REST API through the client generated from `openapi.yaml`, over URLSession, with the
/// bearer token added to every request and every problem+json answer turned into a
/// ``ServerProblem`` (so a verb reads only the answers it expects).
struct API {
    let client: Client
    let baseURL: URL
    let token: String?

    init(_ options: GlobalOptions) throws {
        baseURL = try options.apiURL()
        token = try options.token()
        let configuration = URLSessionConfiguration.ephemeral
        // Long polls ask for at most 300 s; leave them room.
        configuration.timeoutIntervalForRequest = 330
        client = Client(
            serverURL: baseURL,
            transport: URLSessionTransport(configuration: .init(session: URLSession(configuration: configuration))),
            middlewares: [BearerTokenMiddleware(token: token), ProblemMiddleware()])
    }

    /// The named device, or every device when `name` is `nil` (dmsetup's verbs without a name
    /// act on all devices).
    func devices(named name: String?) async throws -> [Components.Schemas.Device] {
        if let name { return [try await client.getDevice(path: .init(name: name)).ok.body.json] }
        return try await client.listDevices().ok.body.json.devices
    }

    /// `GET /v1/health` (not among the generated operations: the server serves it natively).
    func health() async throws -> Components.Schemas.Health {
        var request = URLRequest(url: baseURL.appendingPathComponent("health"))
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else { throw LocalFailure(code: nil, detail: "health answered HTTP \(status)") }
        return try JSONDecoder().decode(Components.Schemas.Health.self, from: data)
    }
}

/// Adds `Authorization: Bearer TOKEN` when there is a token.
struct BearerTokenMiddleware: ClientMiddleware {
    let token: String?

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if let token { request.headerFields[.authorization] = "Bearer \(token)" }
        return try await next(request, body, baseURL)
    }
}

/// Turns an error answer (status ≥ 400) into a ``ServerProblem`` with its `code` and `detail`
/// (or the bare HTTP status when the body is not problem+json).
struct ProblemMiddleware: ClientMiddleware {
    private struct Problem: Decodable {
        var code: String?
        var detail: String?
        var title: String?
    }

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.code >= 400 else { return (response, responseBody) }
        var data = Data()
        if let responseBody { data = try await Data(collecting: responseBody, upTo: 1 << 20) }
        let problem = try? JSONDecoder().decode(Problem.self, from: data)
        throw ServerProblem(
            status: response.status.code, code: problem?.code ?? "HTTP \(response.status.code)",
            detail: problem?.detail ?? problem?.title ?? response.status.reasonPhrase)
    }
}
