import MapperAPI
import MapperCore
import OpenAPIRuntime

/// Move jobs.
extension APIHandler {
    var jobs: JobManager { runtime.jobs }

    func moveDevice(_ input: Operations.MoveDevice.Input) async throws -> Operations.MoveDevice.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        try Validate.range(body.toOffsetSectors, 0...Int64.max, "toOffsetSectors")
        try Validate.range(body.regionSizeSectors, 1...16_777_216, "regionSizeSectors")
        try Validate.range(body.maxBytesPerSecond, 0...Int64.max, "maxBytesPerSecond")
        let job = try await jobs.startMove(
            device: input.path.name, from: body.from, to: body.to, toOffset: UInt64(body.toOffsetSectors ?? 0),
            regionSize: UInt64(body.regionSizeSectors ?? 1024), maxBytesPerSecond: UInt64(body.maxBytesPerSecond ?? 0))
        return .accepted(.init(headers: .init(location: "/v1/jobs/\(job.id)"), body: .json(DTO.job(job))))
    }

    func listJobs(_ input: Operations.ListJobs.Input) async throws -> Operations.ListJobs.Output {
        .ok(.init(body: .json(.init(jobs: jobs.jobs.map(DTO.job)))))
    }

    func getJob(_ input: Operations.GetJob.Input) async throws -> Operations.GetJob.Output {
        .ok(.init(body: .json(DTO.job(try jobs.job(input.path.id)))))
    }

    func pauseJob(_ input: Operations.PauseJob.Input) async throws -> Operations.PauseJob.Output {
        .ok(.init(body: .json(DTO.job(try await jobs.pause(input.path.id)))))
    }

    func resumeJob(_ input: Operations.ResumeJob.Input) async throws -> Operations.ResumeJob.Output {
        .ok(.init(body: .json(DTO.job(try await jobs.resume(input.path.id)))))
    }

    func cancelJob(_ input: Operations.CancelJob.Input) async throws -> Operations.CancelJob.Output {
        .accepted(.init(body: .json(DTO.job(try jobs.cancel(input.path.id)))))
    }

    func throttleJob(_ input: Operations.ThrottleJob.Input) async throws -> Operations.ThrottleJob.Output {
        guard case .json(let body) = input.body else { throw MapperError(.EINVAL, "JSON body required") }
        try Validate.range(body.maxBytesPerSecond, 0...Int64.max, "maxBytesPerSecond")
        let job = try await jobs.throttle(input.path.id, maxBytesPerSecond: UInt64(body.maxBytesPerSecond))
        return .ok(.init(body: .json(DTO.job(job))))
    }
}
