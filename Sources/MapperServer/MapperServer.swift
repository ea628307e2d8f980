import Foundation
import Hummingbird
import Logging
import MapperAPI
import MapperCore
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
import ServiceLifecycle

/// Builds and runs the HTTP service over a ``MapperRuntime``.
public enum MapperServer {
    /// The router: Hummingbird's metrics middleware, one edge middleware (auth, body limits,
    /// problem mapping), the native health, metrics and data routes, then the generated
    /// operations.
    public static func router(runtime: MapperRuntime) throws -> Router<BasicRequestContext> {
        let router = Router()
        let configuration = runtime.configuration
        HTTPMetrics.bootstrap()
        // Outermost, so that refused requests (401, 413) are counted too.
        router.middlewares.add(MetricsMiddleware())
        router.middlewares.add(
            EdgeMiddleware(
                auth: configuration.token.map(BearerAuth.init),
                limits: BodyLimits(jsonLimit: configuration.maxJSONBytes, dataLimit: configuration.maxDataBytes),
                drainLimit: configuration.drainLimit))
        try HealthRoute.register(on: router)
        MetricsRoute.register(on: router, runtime: runtime)
        DataRoutes(runtime: runtime).register(on: router)
        let handler = APIHandler(runtime: runtime)
        // Compact JSON: pretty printing costs more than the rest of a small answer.
        try handler.registerHandlers(
            on: router, serverURL: try Servers.Server1.url(), configuration: Configuration(jsonEncodingOptions: []),
            middlewares: [
                ProblemMiddleware(logger: runtime.logger),
                EmptyBodyMiddleware(limit: runtime.configuration.maxJSONBytes),
            ])
        return router
    }

    /// Runs the store's writer, the HTTP server and, when configured, the NBD export in one
    /// service group until SIGTERM/SIGINT, then stops them gracefully in reverse order: the
    /// listeners first, the store (which commits what is queued) last. Logs `listening on
    /// HOST:PORT` once HTTP accepts connections (and the NBD export its own line).
    public static func run(runtime: MapperRuntime, logger: Logger) async throws {
        let configuration = runtime.configuration
        let app = Application(
            router: try router(runtime: runtime),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "mapperd"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                logger.info("listening on \(configuration.host):\(port)")
            },
            logger: logger)
        var services: [any Service] = [runtime.store, runtime.checker, runtime.jobs, app]
        if let nbd = runtime.nbd { services.append(nbd) }
        if let keeper = runtime.leaseKeeper { services.insert(keeper, at: 1) }
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await runtime.close()
            throw error
        }
        await runtime.close()
        logger.info("stopped")
    }
}
