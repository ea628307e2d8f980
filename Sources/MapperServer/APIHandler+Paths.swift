import MapperAPI
import MapperCore

extension APIHandler {
    func listPaths(_ input: Operations.ListPaths.Input) async throws -> Operations.ListPaths.Output {
        .ok(.init(body: .json(.init(paths: manager.paths.map { DTO.path($0.info) }))))
    }

    func createPath(_ input: Operations.CreatePath.Input) async throws -> Operations.CreatePath.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        let checker = try body.checker.map { try CheckerConfig(intervalMs: $0.intervalMs, timeoutMs: $0.timeoutMs) }
        let path = try await manager.createPath(name: body.name, backend: body.backend, uri: body.uri, checker: checker)
        return .created(.init(headers: .init(location: "/v1/paths/\(path.name)"), body: .json(DTO.path(path.info))))
    }

    func getPath(_ input: Operations.GetPath.Input) async throws -> Operations.GetPath.Output {
        .ok(.init(body: .json(DTO.path(try manager.path(named: input.path.name).info))))
    }

    func deletePath(_ input: Operations.DeletePath.Input) async throws -> Operations.DeletePath.Output {
        try await manager.removePath(named: input.path.name)
        return .noContent(.init())
    }

    func failPath(_ input: Operations.FailPath.Input) async throws -> Operations.FailPath.Output {
        await .ok(.init(body: .json(DTO.path(try manager.failPath(named: input.path.name).info))))
    }

    func reinstatePath(_ input: Operations.ReinstatePath.Input) async throws -> Operations.ReinstatePath.Output {
        await .ok(.init(body: .json(DTO.path(try manager.reinstatePath(named: input.path.name).info))))
    }

    func setPathChecker(_ input: Operations.SetPathChecker.Input) async throws -> Operations.SetPathChecker.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        let defaults = runtime.manager.engine.defaultChecker
        let config =
            try body.enabled
            ? CheckerConfig(
                intervalMs: body.intervalMs ?? defaults.intervalMs, timeoutMs: body.timeoutMs ?? defaults.timeoutMs)
            : nil
        return try await .ok(.init(body: .json(DTO.path(manager.setChecker(path: input.path.name, config).info))))
    }

    func setPathFault(_ input: Operations.SetPathFault.Input) async throws -> Operations.SetPathFault.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        try Validate.range(body.delayMs, 0...600_000, "delayMs")
        let mode = try FaultMode(name: body.mode.rawValue, delayMs: body.delayMs ?? (body.mode == .delay ? nil : 0))
        return await .ok(.init(body: .json(DTO.path(try manager.setFault(path: input.path.name, mode).info))))
    }
}
