import Foundation
import MapperAPI
import MapperCore

/// Hosts sharing the store, and claims.
extension APIHandler {
    func claimDevice(_ input: Operations.ClaimDevice.Input) async throws -> Operations.ClaimDevice.Output {
        try DeviceManager.validateName(input.path.name)
        let (device, _) = try await runtime.claim(device: input.path.name)
        return .ok(.init(body: .json(DTO.device(device.info))))
    }

    func listHosts(_ input: Operations.ListHosts.Input) async throws -> Operations.ListHosts.Output {
        let hosts = try await runtime.hosts().map { host in
            Components.Schemas.Host(
                id: host.id, leaseMs: Int64(host.leaseMs), leaseExpiresAt: host.leaseExpiresAt,
                renewedAt: host.renewedAt, startedAt: host.startedAt, expired: host.expired, claimable: host.claimable,
                devices: host.devices.sorted { $0.key < $1.key }.map { .init(name: $0.key, epoch: $0.value) })
        }
        return .ok(
            .init(
                body: .json(
                    .init(
                        _self: runtime.configuration.hostID, fenced: runtime.leaseKeeper?.isFenced ?? false,
                        hosts: hosts))))
    }
}
