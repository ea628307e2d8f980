import Foundation
import MapperAPI
import MapperCore
import OpenAPIRuntime
import ServiceLifecycle

/// Implements the generated `APIProtocol`: each operation calls the engine and maps values to
/// their API form. Errors are thrown and become problem+json in ``ProblemMiddleware``.
struct APIHandler: APIProtocol {
    let runtime: MapperRuntime
    var manager: DeviceManager { runtime.manager }

    func listTargets(_ input: Operations.ListTargets.Input) async throws -> Operations.ListTargets.Output {
        .ok(
            .init(
                body: .json(
                    .init(
                        targets: manager.engine.targetTypes.all.map { .init(name: $0.name, version: $0.versionString) })
                )))
    }

    func injectFault(_ input: Operations.InjectFault.Input) async throws -> Operations.InjectFault.Output {
        guard runtime.configuration.enableFaultInjection else {
            throw MapperError(.ENOENT, "fault injection is not enabled on this server")
        }
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        try Validate.range(body.count, 1...1000, "count")
        guard let errno = Errno(name: body.error.rawValue) else {
            throw MapperError(.EINVAL, "unknown errno '\(body.error.rawValue)'")
        }
        try manager.engine.failurePoints.arm(body.point.rawValue, errno: errno, count: body.count ?? 1)
        return .noContent(.init())
    }

    func holdStoreCommits(
        _ input: Operations.HoldStoreCommits.Input
    ) async throws -> Operations.HoldStoreCommits.Output {
        guard runtime.configuration.enableFaultInjection else {
            throw MapperError(.ENOENT, "fault injection is not enabled on this server")
        }
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        if body.commitsHeld {
            runtime.store.holdCommits()
        } else {
            runtime.store.releaseCommits()
        }
        let hold = runtime.store.commitHold
        return .ok(.init(body: .json(.init(commitsHeld: hold.held, waiting: hold.waiting))))
    }

    func listEvents(_ input: Operations.ListEvents.Input) async throws -> Operations.ListEvents.Output {
        try Validate.range(input.query.after, 0...Int64.max, "after")
        try Validate.timeoutMs(input.query.timeoutMs)
        let after = UInt64(max(0, input.query.after ?? 0))
        let timeout = Duration.milliseconds(min(300_000, max(0, input.query.timeoutMs ?? 30_000)))
        // A long poll ends early (with what there is) when the server shuts down.
        let log = manager.engine.events
        let (events, last) = await cancelWhenGracefulShutdown { await log.wait(after: after, timeout: timeout) }
        return .ok(.init(body: .json(.init(events: events.map(DTO.event), last: Int64(last)))))
    }
}
