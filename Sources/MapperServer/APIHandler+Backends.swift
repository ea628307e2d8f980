import MapperAPI
import MapperCore

extension APIHandler {
    func listBackends(_ input: Operations.ListBackends.Input) async throws -> Operations.ListBackends.Output {
        .ok(.init(body: .json(.init(backends: manager.backends.map { DTO.backend(manager.info($0)) }))))
    }

    func createBackend(_ input: Operations.CreateBackend.Input) async throws -> Operations.CreateBackend.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        try DeviceManager.validateName(body.name)
        if let size = body.sizeBytes, size < 512 || size % 512 != 0 {
            throw MapperError(.EINVAL, "sizeBytes must be a positive multiple of 512")
        }
        let backend: any Backend
        switch (body.file, body.uri) {
        case (let file?, nil):
            backend = try await manager.createBackend(
                name: body.name, file: file, url: try runtime.files.resolve(file),
                sizeBytes: body.sizeBytes.map { UInt64($0) })
        case (nil, let uri?):
            backend = try await manager.createBackend(
                name: body.name, uri: uri, sizeBytes: body.sizeBytes.map { UInt64($0) })
        default:
            throw MapperError(.EINVAL, "give file or uri (not both)")
        }
        return .created(
            .init(
                headers: .init(location: "/v1/backends/\(backend.name)"),
                body: .json(DTO.backend(manager.info(backend)))))
    }

    func getBackend(_ input: Operations.GetBackend.Input) async throws -> Operations.GetBackend.Output {
        .ok(.init(body: .json(DTO.backend(manager.info(try manager.backend(named: input.path.name))))))
    }

    func resizeBackend(_ input: Operations.ResizeBackend.Input) async throws -> Operations.ResizeBackend.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        guard body.sizeBytes >= 512, body.sizeBytes % 512 == 0 else {
            throw MapperError(.EINVAL, "sizeBytes must be a positive multiple of 512")
        }
        let backend = try await manager.resizeBackend(named: input.path.name, sizeBytes: UInt64(body.sizeBytes))
        return .ok(.init(body: .json(DTO.backend(manager.info(backend)))))
    }

    func deleteBackend(_ input: Operations.DeleteBackend.Input) async throws -> Operations.DeleteBackend.Output {
        try await manager.removeBackend(named: input.path.name)
        return .noContent(.init())
    }
}
