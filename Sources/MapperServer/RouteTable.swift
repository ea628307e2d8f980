/// The served routes and their methods, as in `OpenAPI/openapi.yaml` (a test checks that the
/// two agree). Used to answer 405 with `Allow` for a known path with another method.
public enum RouteTable {
    /// Path templates under `/v1` and their methods.
    public static let routes: [(path: String, methods: [String])] = [
        ("/health", ["GET"]),
        ("/metrics", ["GET"]),
        ("/targets", ["GET"]),
        ("/backends", ["GET", "POST"]),
        ("/backends/{name}", ["GET", "PUT", "DELETE"]),
        ("/paths", ["GET", "POST"]),
        ("/paths/{name}", ["GET", "DELETE"]),
        ("/paths/{name}/fail", ["POST"]),
        ("/paths/{name}/reinstate", ["POST"]),
        ("/paths/{name}/fault", ["PUT"]),
        ("/paths/{name}/checker", ["PUT"]),
        ("/devices", ["GET", "POST"]),
        ("/devices/{name}", ["GET", "DELETE"]),
        ("/devices/{name}/rename", ["POST"]),
        ("/devices/{name}/table/inactive", ["PUT", "DELETE"]),
        ("/devices/{name}/table", ["GET"]),
        ("/devices/{name}/status", ["GET"]),
        ("/devices/{name}/policy", ["PUT"]),
        ("/devices/{name}/suspend", ["POST"]),
        ("/devices/{name}/resume", ["POST"]),
        ("/devices/{name}/message", ["POST"]),
        ("/devices/{name}/events", ["GET"]),
        ("/devices/{name}/data", ["GET", "PUT"]),
        ("/devices/{name}/flush", ["POST"]),
        ("/devices/{name}/move", ["POST"]),
        ("/devices/{name}/claim", ["POST"]),
        ("/jobs", ["GET"]),
        ("/jobs/{id}", ["GET"]),
        ("/jobs/{id}/pause", ["POST"]),
        ("/jobs/{id}/resume", ["POST"]),
        ("/jobs/{id}/cancel", ["POST"]),
        ("/jobs/{id}/throttle", ["PUT"]),
        ("/bios", ["GET"]),
        ("/bios/{id}", ["GET"]),
        ("/events", ["GET"]),
        ("/nbd", ["GET"]),
        ("/hosts", ["GET"]),
        ("/debug/faults", ["POST"]),
        ("/debug/store", ["PUT"]),
    ]

    /// The methods served at `path` (a request path starting with `/v1`), or `nil` when no
    /// route matches it.
    static func methods(for path: String) -> [String]? {
        guard path.hasPrefix("/v1/") else { return nil }
        let parts = path.dropFirst(3).split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for route in routes {
            let template = route.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            guard template.count == parts.count else { continue }
            if zip(template, parts).allSatisfy({ $0.hasPrefix("{") ? !$1.isEmpty : $0 == $1 }) {
                return route.methods
            }
        }
        return nil
    }
}
