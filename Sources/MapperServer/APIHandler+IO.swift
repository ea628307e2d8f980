import Foundation
import HTTPTypes
import MapperAPI
import MapperCore
import OpenAPIRuntime

/// Flush and the bio endpoints through the generated layer (reads and writes of data are
/// ``DataRoutes``).
extension APIHandler {
    var data: DataService { DataService(runtime: runtime) }

    func flushDevice(_ input: Operations.FlushDevice.Input) async throws -> Operations.FlushDevice.Output {
        let outcome = try await data.flush(
            device: input.path.name, respondAsync: Self.prefersAsync(input.headers.prefer),
            idempotencyKey: input.headers.idempotencyKey)
        return Self.respond(
            outcome, completed: { .noContent(.init(headers: .init(bioId: $0))) },
            accepted: {
                .accepted(.init(headers: .init(location: $0, preferenceApplied: $1, bioId: $2), body: .json($3)))
            })
    }

    /// Builds a write or flush response: 204 with `Bio-Id`, or 202 with `Location`,
    /// `Preference-Applied` and the Bio.
    static func respond<Output>(
        _ outcome: DataService.Outcome, completed: (String) -> Output,
        accepted: (_ location: String, _ applied: String, _ bioID: String, _ bio: Components.Schemas.Bio) -> Output
    ) -> Output {
        switch outcome {
        case .completed(let id):
            return completed(String(id))
        case .accepted(let bio, let device):
            return accepted("/v1/bios/\(bio.id)", "respond-async", String(bio.id), DTO.bio(bio, device: device))
        }
    }

    func listBios(_ input: Operations.ListBios.Input) async throws -> Operations.ListBios.Output {
        try Validate.name(input.query.device, "device")
        let deviceFilter = input.query.device
        let stateFilter = input.query.state.flatMap { BioState(rawValue: $0.rawValue) }
        var seen = Set<String>()
        var result: [Components.Schemas.Bio] = []
        for entry in runtime.bios.entries {
            let bio = DTO.bio(entry.summary, device: entry.device.name)
            guard deviceFilter == nil || bio.device == deviceFilter,
                stateFilter == nil || bio.state.rawValue == stateFilter?.rawValue
            else { continue }
            seen.insert(bio.id)
            result.append(bio)
        }
        for stored in try await runtime.store.bios(device: deviceFilter, state: stateFilter, limit: 1000)
        where !seen.contains(String(stored.id)) {
            result.append(DTO.bio(stored))
        }
        return .ok(.init(body: .json(.init(bios: result))))
    }

    func getBio(_ input: Operations.GetBio.Input) async throws -> Operations.GetBio.Output {
        guard let id = UInt64(input.path.id) else { throw MapperError(.EINVAL, "bio id must be a number") }
        if let entry = runtime.bios.entry(id: id) {
            return .ok(.init(body: .json(DTO.bio(entry.summary, device: entry.device.name))))
        }
        guard let stored = try await runtime.store.bio(id: id) else { throw MapperError(.ENOENT, "no bio \(id)") }
        return .ok(.init(body: .json(DTO.bio(stored))))
    }

    /// Whether a `Prefer` header asks for `respond-async` (RFC 7240).
    static func prefersAsync(_ header: String?) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains {
            $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "respond-async"
        }
    }
}
