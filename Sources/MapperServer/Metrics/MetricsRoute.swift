import Hummingbird
import NIOCore

/// `GET /v1/metrics`: the Prometheus text exposition format (0.0.4), behind the same bearer
/// token as the rest of the API. The engine's families (``EngineMetrics``) come first, then
/// the HTTP ones (``HTTPMetrics``). Served natively, like health: it is not JSON.
enum MetricsRoute {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func register(on router: Router<BasicRequestContext>, runtime: MapperRuntime) {
        router.get("/v1/metrics") { _, _ in
            var text = EngineMetrics.render(runtime)
            text += HTTPMetrics.registry.emitToString()
            return Response(
                status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }
}
