import Foundation
import MapperCore
import MapperTestSupport
import Testing

/// The path checker over file paths (multipathd's directio checker on a simulated transport)
/// and the path-error rule that decides which I/O errors fail a path.
@Suite("Path checker")
struct PathCheckerTests {
    @Test("a checked file path is failed when its fault is error and reinstated when it is none, with no I/O sent")
    func filePathChecker() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 2048)
        let path = try await fixture.manager.createPath(
            name: "p1", backend: "disk", checker: try CheckerConfig(intervalMs: 20, timeoutMs: 500))
        try await fixture.device("mp", table: "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1")
        let device = try fixture.manager.device(named: "mp")
        try await fixture.withPathChecker {
            let start = fixture.engine.events.lastSeq
            try await fixture.manager.setFault(path: "p1", .error)
            #expect(await fixture.waitForEvent(.checkerFailed, after: start)?.path == "p1")
            #expect(!path.isActive)
            #expect(path.lastCheck?.error == .EIO)
            let failedAt = device.eventNr
            let again = fixture.engine.events.lastSeq
            try await fixture.manager.setFault(path: "p1", .none)
            #expect(await fixture.waitForEvent(.checkerReinstated, after: again)?.path == "p1")
            #expect(path.isActive)
            #expect(device.eventNr > failedAt)
        }
    }

    @Test("a stalled check times out and fails the path; only one check runs at a time")
    func stalledCheck() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 2048)
        let path = try await fixture.manager.createPath(
            name: "p1", backend: "disk", checker: try CheckerConfig(intervalMs: 10, timeoutMs: 250))
        try await fixture.withPathChecker {
            let start = fixture.engine.events.lastSeq
            try await fixture.manager.setFault(path: "p1", .stall)
            #expect(await fixture.waitForEvent(.checkerFailed, after: start)?.detail == "ETIMEDOUT")
            // The probe is stalled at the path (the timeout leaves room for a loaded machine to
            // get it there), and no second check ran beside it.
            #expect(path.stalledCount == 1)
            try await fixture.manager.setFault(path: "p1", .none)
            #expect(await fixture.waitForEvent(.checkerReinstated, after: start)?.path == "p1")
        }
    }

    @Test("a path without a checker stays failed until reinstated; turning the checker on reinstates it")
    func uncheckedPathStaysFailed() async throws {
        let fixture = try EngineFixture()
        try await fixture.backend("disk", sectors: 2048)
        let path = try await fixture.manager.createPath(name: "p1", backend: "disk")
        #expect(path.checker == nil)
        try await fixture.manager.failPath(named: "p1")
        try await fixture.withPathChecker {
            let start = fixture.engine.events.lastSeq
            try await fixture.manager.setChecker(path: "p1", try CheckerConfig(intervalMs: 20, timeoutMs: 500))
            #expect(await fixture.waitForEvent(.checkerReinstated, after: start)?.path == "p1")
        }
        #expect(throws: MapperError.self) { try CheckerConfig(intervalMs: 5, timeoutMs: 100) }
    }

    @Test("path errors: every errno but the request's own (no space, refused, invalid, unsupported)")
    func pathErrorTruthTable() {
        let table: [(Errno, Bool)] = [
            (.EIO, true), (.ENOTCONN, true), (.ETIMEDOUT, true), (.ECONNREFUSED, true), (.ENODEV, true),
            (.ENOMEM, true), (.ENOSPC, false), (.EDQUOT, false), (.EPERM, false), (.EROFS, false),
            (.EINVAL, false), (.ENOTSUP, false),
        ]
        for (errno, isPathError) in table { #expect(errno.isPathError == isPathError, "\(errno)") }
    }
}
