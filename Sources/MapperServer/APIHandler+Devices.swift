import MapperAPI
import MapperCore
import ServiceLifecycle

extension APIHandler {
    func listDevices(_ input: Operations.ListDevices.Input) async throws -> Operations.ListDevices.Output {
        .ok(.init(body: .json(.init(devices: manager.devices.map { DTO.device($0.info) }))))
    }

    func createDevice(_ input: Operations.CreateDevice.Input) async throws -> Operations.CreateDevice.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        try Validate.length(body.uuid, 1...128, "uuid")
        let lines = try body.table.map(DTO.lines)
        let device = try await manager.createDevice(
            name: body.name, uuid: body.uuid, readOnly: body.readOnly ?? false, table: lines)
        return .created(
            .init(headers: .init(location: "/v1/devices/\(device.name)"), body: .json(DTO.device(device.info))))
    }

    func getDevice(_ input: Operations.GetDevice.Input) async throws -> Operations.GetDevice.Output {
        .ok(.init(body: .json(DTO.device(try manager.device(named: input.path.name).info))))
    }

    func deleteDevice(_ input: Operations.DeleteDevice.Input) async throws -> Operations.DeleteDevice.Output {
        try await manager.removeDevice(named: input.path.name, force: input.query.force ?? false)
        return .noContent(.init())
    }

    func renameDevice(_ input: Operations.RenameDevice.Input) async throws -> Operations.RenameDevice.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        let device = try await manager.renameDevice(named: input.path.name, to: body.newName)
        return .ok(.init(body: .json(DTO.device(device.info))))
    }

    func loadTable(_ input: Operations.LoadTable.Input) async throws -> Operations.LoadTable.Output {
        let lines: [TableLine]
        switch input.body {
        case .json(let table):
            lines = try DTO.lines(table)
        case .plainText(let body):
            let text = try await String(collecting: body, upTo: runtime.configuration.maxJSONBytes)
            lines = try TableParser.parse(text)
        }
        try await manager.load(device: input.path.name, lines: lines)
        return .ok(.init(body: .json(DTO.device(try manager.device(named: input.path.name).info))))
    }

    func clearTable(_ input: Operations.ClearTable.Input) async throws -> Operations.ClearTable.Output {
        try await manager.clear(device: input.path.name)
        return .ok(.init(body: .json(DTO.device(try manager.device(named: input.path.name).info))))
    }

    func getTable(_ input: Operations.GetTable.Input) async throws -> Operations.GetTable.Output {
        let device = try manager.device(named: input.path.name)
        let which = input.query.which ?? .live
        guard let table = which == .live ? device.liveTable : device.inactiveTable else {
            throw MapperError(.ENOENT, "device '\(device.name)' has no \(which.rawValue) table")
        }
        return .ok(.init(body: .json(DTO.table(table))))
    }

    func getStatus(_ input: Operations.GetStatus.Input) async throws -> Operations.GetStatus.Output {
        let device = try manager.device(named: input.path.name)
        let table = input.query.which == .inactive ? device.inactiveTable : device.liveTable
        guard let table else {
            return .ok(.init(body: .json(.init(targets: []))))
        }
        return .ok(.init(body: .json(DTO.status(table))))
    }

    func setDevicePolicy(_ input: Operations.SetDevicePolicy.Input) async throws -> Operations.SetDevicePolicy.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        let device = try manager.device(named: input.path.name)
        try await device.setNoPathRetry(DTO.noPathRetry(body.noPathRetry))
        return .ok(.init(body: .json(DTO.device(device.info))))
    }

    func suspendDevice(_ input: Operations.SuspendDevice.Input) async throws -> Operations.SuspendDevice.Output {
        let device = try manager.device(named: input.path.name)
        var options = Components.Schemas.SuspendRequest()
        if case .json(let body) = input.body { options = body }
        try Validate.range(options.timeoutMs, 0...3_600_000, "timeoutMs")
        let timeout = options.timeoutMs.map { Duration.milliseconds(max(0, $0)) }
        try await device.suspend(
            noflush: options.noflush ?? false, nolockfs: options.nolockfs ?? false, timeout: timeout)
        return .ok(.init(body: .json(DTO.device(device.info))))
    }

    func resumeDevice(_ input: Operations.ResumeDevice.Input) async throws -> Operations.ResumeDevice.Output {
        let device = try manager.device(named: input.path.name)
        var options = Components.Schemas.ResumeRequest()
        if case .json(let body) = input.body { options = body }
        try await device.resume(noflush: options.noflush ?? false, nolockfs: options.nolockfs ?? false)
        return .ok(.init(body: .json(DTO.device(device.info))))
    }

    func sendMessage(_ input: Operations.SendMessage.Input) async throws -> Operations.SendMessage.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        try Validate.range(body.sector, 0...Int64.max, "sector")
        try Validate.length(body.message, 1...4096, "message")
        let device = try manager.device(named: input.path.name)
        let reply = try await device.message(sector: UInt64(body.sector ?? 0), body.message)
        return .ok(.init(body: .json(.init(reply: reply))))
    }

    func waitDeviceEvent(_ input: Operations.WaitDeviceEvent.Input) async throws -> Operations.WaitDeviceEvent.Output {
        try Validate.range(input.query.after, 0...Int64(UInt32.max), "after")
        try Validate.timeoutMs(input.query.timeoutMs)
        let device = try manager.device(named: input.path.name)
        let after = UInt32(clamping: max(0, input.query.after ?? Int64(device.eventNr)))
        let timeout = Duration.milliseconds(min(300_000, max(0, input.query.timeoutMs ?? 30_000)))
        // A long poll ends early (with the current number) when the server shuts down.
        let number = await cancelWhenGracefulShutdown { await device.waitEvent(after: after, timeout: timeout) }
        return .ok(.init(body: .json(.init(eventNr: Int64(number)))))
    }
}
