import Hummingbird
import NIOCore

/// `GET /v1/metrics`, and the same at `GET /metrics` (Prometheus' default `metrics_path`):
/// the Prometheus text exposition format (0.0.4), behind the same bearer token as the rest of
/// the API. The engine's families (``EngineMetrics``) come first, then the HTTP ones
/// (``HTTPMetrics``). Served natively, like health: it is not JSON.
enum MetricsRoute {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    /// Where the metrics are served.
    static let paths: [RouterPath] = ["/v1/metrics", "/metrics"]

    static func register(on router: Router<BasicRequestContext>, runtime: MapperRuntime) {
        for path in paths {
            router.get(path) { _, _ in
                var text = EngineMetrics.render(runtime)
                text += HTTPMetrics.registry.emitToString()
                return Response(
                    status: .ok, headers: [.contentType: contentType],
                    body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
    }
}
