import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import MapperCore
import MapperServer
import NIOCore
import Testing

/// A runtime over a temporary data directory and its router, driven in memory.
final class RouterFixture: @unchecked Sendable {
    let directory: URL
    let runtime: MapperRuntime
    let token: String?

    init(
        token: String? = nil, faults: Bool = false, maxDataBytes: Int = 1 << 20,
        queueLimits: QueueLimits = .defaults, respondAsyncWait: Duration = .milliseconds(100)
    ) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mapperd-router-\(UUID().uuidString)")
        self.token = token
        runtime = try await MapperRuntime(
            configuration: ServerConfiguration(
                port: 0, dataDirectory: directory, token: token, enableFaultInjection: faults,
                maxDataBytes: maxDataBytes, respondAsyncWait: respondAsyncWait, queueLimits: queueLimits),
            logger: Logger(label: "test"))
    }

    deinit {
        // Closing the store is asynchronous; the directory goes once it is closed.
        let runtime = self.runtime
        let directory = self.directory
        Task {
            await runtime.close()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// One response: status, headers, body bytes and (if JSON) the decoded object.
    struct Reply {
        let status: Int
        let headers: HTTPFields
        let body: [UInt8]
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var code: String? { json["code"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Runs `body` with a client; requests carry the token unless `authorized` is false.
    func run(_ body: @Sendable (Client) async throws -> Void) async throws {
        let app = Application(router: try MapperServer.router(runtime: runtime))
        try await app.test(.router) { client in
            try await body(Client(client: client, token: token))
        }
    }

    struct Client: Sendable {
        let client: any TestClientProtocol
        let token: String?

        /// Backend `d0` (1 MiB), path `p1`, device `mp` (multipath over p1 with
        /// queue_if_no_path), then p1 failed: writes to `mp` are held.
        func queueingMultipathWithoutPath() async throws {
            try await call(.post, "/v1/backends", json: #"{"name":"d0","file":"d0.img","sizeBytes":1048576}"#)
            try await call(.post, "/v1/paths", json: #"{"name":"p1","backend":"d0"}"#)
            try await call(
                .post, "/v1/devices",
                json:
                    #"{"name":"mp","table":{"text":"0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1"}}"#
            )
            try await call(.post, "/v1/paths/p1/fail")
        }

        @discardableResult
        func call(
            _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, bytes: [UInt8]? = nil,
            text: String? = nil, headers extra: HTTPFields = [:], authorized: Bool = true
        ) async throws -> Reply {
            var headers = extra
            if authorized, let token { headers[.authorization] = "Bearer \(token)" }
            var body: ByteBuffer?
            if let json {
                headers[.contentType] = "application/json"
                body = ByteBuffer(string: json)
            } else if let bytes {
                headers[.contentType] = "application/octet-stream"
                headers[.contentLength] = "\(bytes.count)"
                body = ByteBuffer(bytes: bytes)
            } else if let text {
                headers[.contentType] = "text/plain"
                body = ByteBuffer(string: text)
            }
            return try await client.execute(uri: uri, method: method, headers: headers, body: body) { response in
                Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer: response.body))
            }
        }
    }
}
