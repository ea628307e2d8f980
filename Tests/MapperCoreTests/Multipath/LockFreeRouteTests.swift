import MapperTestSupport
import Testing

@testable import MapperCore

/// Round-robin's lock-free choice over a group's borrowed paths (``LockFreeRoute``).
@Suite("Lock-free route")
struct LockFreeRouteTests {
    @Test("tickets go round the paths by the repeat count, continue the locked rotation, and skip failed paths")
    func choosesByTicket() async throws {
        let fixture = try await MultipathFixture(paths: 3)
        let paths = try ["p1", "p2", "p3"].map { try fixture.manager.path(named: $0) }
        let selector = RoundRobinSelector()
        for path in paths { try selector.addPath(path, args: ["2"]) }
        let route = LockFreeRoute(selector: selector, paths: paths)
        defer { route.deallocate() }
        func names(_ count: Int) -> [String] {
            (0..<count).map { _ in route.choose().map { $0.takeUnretainedValue().name } ?? "-" }
        }

        // The locked choice picked p1 (the rotation moved past it): p1 keeps the rest of its
        // repeat count, then each path gets two.
        #expect(selector.select(from: paths)?.path === paths[0])
        selector.alignTicket(pathCount: paths.count)
        #expect(names(7) == ["p1", "p2", "p2", "p3", "p3", "p1", "p1"])

        paths[1].fail()
        #expect(names(6) == ["p3", "p3", "p3", "p3", "p1", "p1"], "p2's turns go to the next active path")
        for path in paths { path.fail() }
        #expect(names(2) == ["-", "-"], "no active path: back to the locked choice")
    }
}
