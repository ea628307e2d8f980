import CoreMetrics
import Prometheus

/// HTTP metrics: Hummingbird's `MetricsMiddleware` reports through swift-metrics into one
/// process-wide swift-prometheus registry, which `GET /v1/metrics` appends to the engine's
/// families.
///
/// swift-metrics has one global factory per process: the first router built bootstraps it
/// with this registry (a host process that bootstrapped its own factory first would trap).
/// Hummingbird's names and labels are renamed to Prometheus conventions:
/// `mapperd_http_requests_total{route,method,status}`, `mapperd_http_request_errors_total`,
/// `mapperd_http_request_duration_seconds` (a histogram, 100 µs … 10 s) and
/// `mapperd_http_active_requests{method}`.
enum HTTPMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        factory.nameAndLabelSanitizer = { name, labels in
            (rename(name), labels.map { (renameLabel($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Makes sure the global factory is this registry's (idempotent).
    static func bootstrap() { _ = registry }

    static func rename(_ name: String) -> String {
        switch name {
        case "hb.requests": "mapperd_http_requests_total"
        case "hb.request.errors": "mapperd_http_request_errors_total"
        case "http.server.request.duration": "mapperd_http_request_duration_seconds"
        case "http.server.active_requests": "mapperd_http_active_requests"
        default: "mapperd_" + sanitized(name)
        }
    }

    static func renameLabel(_ label: String) -> String {
        switch label {
        case "http.route": "route"
        case "http.request.method": "method"
        case "http.response.status_code", "error.type": "status"
        default: sanitized(label)
        }
    }

    private static func sanitized(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }
}
