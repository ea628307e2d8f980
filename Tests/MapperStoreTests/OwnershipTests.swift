import Foundation
import MapperCore
import MapperPostgres
import MapperStore
import MapperTestSupport
import Synchronization
import Testing

/// Two hosts on one PostgreSQL database, as stores (no engine): leases, claims and the fence
/// the database enforces. Leases are 3 s: long enough that a loaded machine does not let one
/// run out between a renewal and the check after it, short enough that waiting for an expiry
/// takes a moment; the waits poll the database's own verdict.
@Suite("Host ownership", .enabled(if: PostgresTestServer.available, "needs PostgreSQL"))
struct OwnershipTests {
    static func store(_ location: String, host: String) async throws -> PostgresStore {
        try await PostgresStore(
            location: PostgresLocation(location), host: HostIdentity(id: host, lease: .seconds(3)))
    }

    /// Claims `device` on `store` as soon as the database allows it (at most 20 s).
    static func claimWhenAllowed(_ store: PostgresStore, _ device: String) async throws -> Int64 {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            do {
                return try await store.claim(device: device)
            } catch let error as MapperError where error.errno == .EBUSY && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test("a claim waits for the owner's lease plus grace, bumps the epoch, and the old owner's writes are refused")
    func claimAndFence() async throws {
        let location = try await PostgresTestServer.database()
        let a = try await Self.store(location, host: "a")
        let b = try await Self.store(location, host: "b")
        #expect(try await a.start() == OwnershipStart(owned: [:], foreign: [:]))
        _ = try await b.start()
        let lost = Mutex<[String]>([])
        a.onDeviceLost { name in lost.withLock { $0.append(name) } }
        try await a.record(.deviceCreated(name: "d", uuid: nil, readOnly: false))
        try await a.record(.deviceCreated(name: "e", uuid: nil, readOnly: false))
        try await a.record(.tableChanged(device: "d", slot: .live, text: "0 8 zero"))

        _ = try await a.renew()
        let hosts = try await b.hosts()
        #expect(hosts.map(\.id) == ["a", "b"])
        #expect(hosts[0].devices == ["d": 1, "e": 1] && !hosts[0].expired)
        // The name is a's: b cannot make a device of its own with it.
        do {
            try await b.record(.deviceCreated(name: "d", uuid: nil, readOnly: false))
            Issue.record("b made a device a serves")
        } catch let error as MapperError {
            #expect(error.errno == .EEXIST && error.message.contains("host 'a'"))
        }
        // a's lease holds: refused, naming the owner. Renewed just before, so that the time the
        // steps above took on a loaded machine cannot have run the lease out.
        _ = try await a.renew()
        do {
            _ = try await b.claim(device: "d")
            Issue.record("claimed while the owner's lease held")
        } catch let error as MapperError {
            #expect(error.errno == .EBUSY && error.message.contains("host 'a'"))
        }
        await #expect(throws: MapperError.self) { _ = try await b.claim(device: "nope") }

        // a stops renewing (it "died"): b gets the device once the lease and grace are over.
        #expect(try await Self.claimWhenAllowed(b, "d") == 2)
        let after = try await b.hosts()
        #expect(after[0].expired && after[0].claimable && after[0].devices == ["e": 1])
        #expect(after[1].devices == ["d": 2])

        // a, still running, writes for d: the database refuses (stale epoch), a hears of it once.
        do {
            try await a.record(.tableChanged(device: "d", slot: .inactive, text: "0 8 zero"))
            Issue.record("a stale owner's write was accepted")
        } catch let error as MapperError {
            #expect(error.errno == .ENODEV)
        }
        await #expect(throws: MapperError.self) {
            try await a.record(.tableChanged(device: "d", slot: .live, text: nil))
        }
        #expect(lost.withLock { $0 } == ["d"])
        // Its table is as a left it before the claim; b writes for it.
        try await b.record(.tableChanged(device: "d", slot: .inactive, text: "0 8 zero"))
        // a's writes for its other device still go through.
        try await a.record(.tableChanged(device: "e", slot: .inactive, text: "0 8 zero"))

        // A renewal finds a device claimed without a write noticing: b takes e too.
        #expect(try await Self.claimWhenAllowed(b, "e") == 2)
        #expect(try await a.renew() == ["e"])
        #expect(lost.withLock { $0 } == ["d", "e"])

        // a restarts: it serves nothing and knows who does.
        await a.close()
        let restarted = try await Self.store(location, host: "a")
        #expect(try await restarted.start() == OwnershipStart(owned: [:], foreign: ["d": "b", "e": "b"]))
        await restarted.close()
        await b.close()
    }

    @Test("a restarted host adopts its own devices at a new epoch; devices of nobody go to the first host")
    func adoption() async throws {
        let location = try await PostgresTestServer.database()
        // Made without a host (as a single-host store would): nobody owns them.
        let plain = try await PostgresStore(location: PostgresLocation(location))
        try await plain.record(.deviceCreated(name: "old", uuid: nil, readOnly: false))
        await plain.close()
        let a = try await Self.store(location, host: "a")
        #expect(try await a.start() == OwnershipStart(owned: ["old": 2], foreign: [:]))
        try await a.record(.deviceCreated(name: "new", uuid: nil, readOnly: false))
        await a.close()
        let again = try await Self.store(location, host: "a")
        #expect(try await again.start() == OwnershipStart(owned: ["old": 3, "new": 2], foreign: [:]))
        // The old incarnation's epochs are stale now.
        await again.close()
    }

    @Test("each host keeps its own events: the same number on two hosts replaces nothing")
    func eventsPerHost() async throws {
        let location = try await PostgresTestServer.database()
        let a = try await Self.store(location, host: "a")
        let b = try await Self.store(location, host: "b")
        for (store, host) in [(a, "a"), (b, "b")] {
            for seq in 1...3 {
                store.recordEvent(
                    EngineEvent(
                        seq: UInt64(seq), at: Date(), kind: .deviceCreated, device: "\(host)\(seq)", path: nil,
                        detail: ""))
            }
            await store.committed()
        }
        #expect(try await a.snapshot().recentEvents.map(\.device) == ["a1", "a2", "a3"])
        #expect(try await b.snapshot().recentEvents.map(\.device) == ["b1", "b2", "b3"])
        // A restart of a continues its own numbering from its own events.
        await a.close()
        let restarted = try await Self.store(location, host: "a")
        #expect(try await restarted.snapshot().recentEvents.last?.seq == 3)
        await restarted.close()
        await b.close()
    }
}
