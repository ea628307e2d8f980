import Foundation
import HTTPTypes
import Testing

/// What a 202 and `GET /v1/bios` say of a bio whose journal commit has not landed: never a
/// queue state (which promises the bio survives a crash) before the commit, the queue state
/// and `durable` once it has. The store's commits are held back through the fault-injection
/// endpoint, as a slow disk holds them.
@Suite("durable state")
struct DurableStateTests {
    static let async: HTTPFields = [HTTPField.Name("Prefer")!: "respond-async"]

    @Test("a 202 for a deferred write says inflight, not durable, until the journal commit lands")
    func acceptedBeforeCommit() async throws {
        let fixture = try await RouterFixture(faults: true, respondAsyncWait: .milliseconds(20))
        try await fixture.run { client in
            #expect(
                try await client.call(.post, "/v1/devices", json: #"{"name":"z","table":{"text":"0 64 zero"}}"#).status
                    == 201)
            #expect(try await client.call(.post, "/v1/devices/z/suspend").status == 200)
            let held = try await client.call(.put, "/v1/debug/store", json: #"{"commitsHeld":true}"#)
            #expect(held.status == 200 && held.json["commitsHeld"] as? Bool == true)

            let accepted = try await client.call(
                .put, "/v1/devices/z/data?offset=0", bytes: [UInt8](repeating: 5, count: 512), headers: Self.async)
            #expect(accepted.status == 202)
            #expect(accepted.json["state"] as? String == "inflight", "\(accepted.text)")
            #expect(accepted.json["durable"] as? Bool == false)
            let location = try #require(accepted.headers[.location])
            // The engine has it deferred; the API does not say so before the commit.
            #expect((try await client.call(.get, "/v1/devices/z").json["io"] as? [String: Int])?["deferred"] == 1)
            let before = try await client.call(.get, location).json
            #expect(before["state"] as? String == "inflight" && before["durable"] as? Bool == false)
            #expect((try await client.call(.get, "/v1/bios?state=deferred").json["bios"] as? [Any])?.isEmpty == true)
            let status = try await client.call(.put, "/v1/debug/store", json: #"{"commitsHeld":true}"#).json
            #expect((status["waiting"] as? Int ?? 0) >= 1)

            #expect(
                try await client.call(.put, "/v1/debug/store", json: #"{"commitsHeld":false}"#).json["commitsHeld"]
                    as? Bool == false)
            await fixture.runtime.store.committed()
            let after = try await client.call(.get, location).json
            #expect(after["state"] as? String == "deferred" && after["durable"] as? Bool == true, "\(after)")
            let listed = try await client.call(.get, "/v1/bios?state=deferred").json["bios"] as? [[String: Any]]
            #expect(listed?.map { "/v1/bios/\($0["id"] as? String ?? "")" } == [location])

            // Without held commits the 202 waits for the commit, up to the short wait.
            let durable = try await client.call(
                .put, "/v1/devices/z/data?offset=512", bytes: [UInt8](repeating: 6, count: 512),
                headers: Self.async)
            #expect(durable.status == 202)
            // Within the short wait the commit usually lands; on a loaded machine it may not,
            // and then the 202 must say inflight. Never a queue without durability.
            let said = (durable.json["state"] as? String, durable.json["durable"] as? Bool)
            #expect(said == ("deferred", true) || said == ("inflight", false), "\(durable.text)")
            await fixture.runtime.store.committed()
            let durableID = try #require(durable.headers[HTTPField.Name("Bio-Id")!])
            let committed = try await client.call(.get, "/v1/bios/\(durableID)").json
            #expect(committed["state"] as? String == "deferred" && committed["durable"] as? Bool == true)

            #expect(try await client.call(.post, "/v1/devices/z/resume").status == 200)
            for reply in [accepted, durable] {
                let id = try #require(reply.headers[HTTPField.Name("Bio-Id")!])
                var ended: [String: Any] = [:]
                for _ in 0..<2000 where ended["completedAt"] == nil {
                    ended = try await client.call(.get, "/v1/bios/\(id)").json
                }
                #expect(ended["state"] as? String == "completed" && ended["durable"] as? Bool == false, "\(ended)")
            }
        }
    }

    @Test("the store hold is a fault-injection endpoint: 404 without fault injection")
    func holdNeedsFaultInjection() async throws {
        let fixture = try await RouterFixture()
        try await fixture.run { client in
            let refused = try await client.call(.put, "/v1/debug/store", json: #"{"commitsHeld":true}"#)
            #expect(refused.status == 404 && refused.code == "ENOENT")
        }
    }
}
