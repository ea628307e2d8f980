import Foundation
import HTTPTypes
import MapperCore
import MapperServer
import Testing

@Suite("REST API in memory")
struct RouterTests {
    @Test("health needs no token; everything else does (EACCES 401)")
    func authentication() async throws {
        let fixture = try await RouterFixture(token: "s3cret")
        try await fixture.run { client in
            #expect(try await client.call(.get, "/v1/health", authorized: false).status == 200)
            let missing = try await client.call(.get, "/v1/devices", authorized: false)
            #expect(missing.status == 401 && missing.code == "EACCES")
            #expect(missing.headers[.wwwAuthenticate] == "Bearer")
            let wrong = try await client.call(
                .get, "/v1/devices", headers: [.authorization: "Bearer nope"], authorized: false)
            #expect(wrong.status == 401)
            #expect(try await client.call(.get, "/v1/devices").status == 200)
            #expect(try await client.call(.get, "/v1/targets").json["targets"] != nil)
        }
    }

    @Test("hosts and claims on the SQLite store: this host alone, serving every device")
    func hostsOnSQLite() async throws {
        let fixture = try await RouterFixture()
        try await fixture.run { client in
            #expect(
                try await client.call(.post, "/v1/devices", json: #"{"name":"z","table":{"text":"0 8 zero"}}"#).status
                    == 201)
            let hosts = try await client.call(.get, "/v1/hosts").json
            let list = hosts["hosts"] as? [[String: Any]] ?? []
            #expect(list.count == 1 && list.first?["id"] as? String == hosts["self"] as? String)
            #expect((list.first?["devices"] as? [[String: Any]])?.first?["name"] as? String == "z")
            #expect(hosts["fenced"] as? Bool == false)
            let claimed = try await client.call(.post, "/v1/devices/z/claim")
            #expect(claimed.status == 200 && claimed.json["name"] as? String == "z")
            #expect(try await client.call(.post, "/v1/devices/nope/claim").code == "ENOENT")
            #expect(try await client.call(.post, "/v1/devices/bad%20name/claim").code == "EINVAL")
        }
    }

    @Test("backends: create sparse, conflict, confinement to the data directory, delete")
    func backends() async throws {
        let fixture = try await RouterFixture()
        try FileManager.default.createSymbolicLink(
            atPath: fixture.directory.appendingPathComponent("out").path, withDestinationPath: "/tmp")
        try await fixture.run { client in
            let created = try await client.call(
                .post, "/v1/backends", json: #"{"name":"d0","file":"d0.img","sizeBytes":1048576}"#)
            #expect(created.status == 201 && created.headers[.location] == "/v1/backends/d0")
            #expect(created.json["sizeSectors"] as? Int == 2048)
            let again = try await client.call(
                .post, "/v1/backends", json: #"{"name":"d0","file":"d1.img","sizeBytes":512}"#)
            #expect(again.status == 409 && again.code == "EEXIST")
            for file in ["/etc/passwd", "../x.img", "a/../../x.img", "out/x.img", "nodir/x.img"] {
                let bad = try await client.call(
                    .post, "/v1/backends", json: #"{"name":"bad","file":"\#(file)","sizeBytes":512}"#)
                #expect(bad.status == 400 && bad.code == "EINVAL", "\(file)")
            }
            #expect(
                try await client.call(.post, "/v1/backends", json: #"{"name":"odd","file":"odd.img","sizeBytes":1000}"#)
                    .status == 400)
            #expect(
                try await client.call(.post, "/v1/backends", json: #"{"name":"x","file":"missing.img"}"#).code
                    == "ENOENT")
            let backends = try await client.call(.get, "/v1/backends").json["backends"] as? [[String: Any]]
            #expect(backends?.map { $0["name"] as? String } == ["d0"])
            #expect(backends?.first?["sizeBytes"] as? Int == 1_048_576)
            #expect(try await client.call(.get, "/v1/backends/nope").status == 404)
            // A file backend grows (the new part a hole), never shrinks.
            let grown = try await client.call(.put, "/v1/backends/d0", json: #"{"sizeBytes":2097152}"#)
            #expect(grown.status == 200 && grown.json["sizeSectors"] as? Int == 4096)
            let attributes = try FileManager.default.attributesOfItem(
                atPath: fixture.directory.appendingPathComponent("d0.img").path)
            #expect(attributes[.size] as? Int == 2_097_152)
            #expect(try await client.call(.put, "/v1/backends/d0", json: #"{"sizeBytes":1048576}"#).code == "EINVAL")
            #expect(try await client.call(.put, "/v1/backends/d0", json: #"{"sizeBytes":1000}"#).status == 400)
            #expect(try await client.call(.put, "/v1/backends/nope", json: #"{"sizeBytes":1048576}"#).status == 404)
            #expect(try await client.call(.delete, "/v1/backends/d0").status == 204)
            #expect(FileManager.default.fileExists(atPath: fixture.directory.appendingPathComponent("d0.img").path))
        }
    }

    @Test("paths: fail, reinstate, fault modes, busy while used")
    func paths() async throws {
        let fixture = try await RouterFixture()
        try await fixture.run { client in
            try await client.call(.post, "/v1/backends", json: #"{"name":"d0","file":"d0.img","sizeBytes":1048576}"#)
            #expect(try await client.call(.post, "/v1/paths", json: #"{"name":"p1","backend":"d0"}"#).status == 201)
            #expect(try await client.call(.post, "/v1/paths", json: #"{"name":"p2","backend":"nope"}"#).status == 404)
            #expect(try await client.call(.post, "/v1/paths/p1/fail").json["state"] as? String == "failed")
            let reinstated = try await client.call(.post, "/v1/paths/p1/reinstate").json
            #expect(reinstated["state"] as? String == "active" && reinstated["failCount"] as? Int == 1)
            let fault = try await client.call(.put, "/v1/paths/p1/fault", json: #"{"mode":"delay","delayMs":5}"#).json
            #expect((fault["fault"] as? [String: Any])?["delayMs"] as? Int == 5)
            #expect(try await client.call(.put, "/v1/paths/p1/fault", json: #"{"mode":"sideways"}"#).status == 400)
            #expect(try await client.call(.put, "/v1/paths/p1/fault", json: #"{"mode":"delay"}"#).status == 400)
            try await client.call(.post, "/v1/devices", json: #"{"name":"lin","table":{"text":"0 64 linear p1 0"}}"#)
            let busy = try await client.call(.delete, "/v1/paths/p1")
            #expect(busy.status == 409 && busy.code == "EBUSY")
            #expect(try await client.call(.get, "/v1/paths/p1").json["usedBy"] as? [String] == ["lin"])
        }
    }

    @Test("devices: create, tables in both forms, status, rename, messages, delete rules")
    func devices() async throws {
        let fixture = try await RouterFixture()
        try await fixture.run { client in
            try await client.call(.post, "/v1/backends", json: #"{"name":"d0","file":"d0.img","sizeBytes":1048576}"#)
            for name in ["p1", "p2"] {
                try await client.call(.post, "/v1/paths", json: #"{"name":"\#(name)","backend":"d0"}"#)
            }
            let mp = "0 2048 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"
            let created = try await client.call(
                .post, "/v1/devices", json: #"{"name":"mp","uuid":"U1","table":{"text":"\#(mp)"}}"#)
            #expect(created.status == 201 && created.json["state"] as? String == "active")
            #expect(try await client.call(.post, "/v1/devices", json: #"{"name":"mp"}"#).code == "EEXIST")
            #expect(try await client.call(.post, "/v1/devices", json: #"{"name":"bad name"}"#).code == "EINVAL")
            let badTable = try await client.call(
                .post, "/v1/devices", json: #"{"name":"x","table":{"text":"0 10 nosuch"}}"#)
            #expect(badTable.status == 400 && badTable.text.contains("line 1"))
            #expect(try await client.call(.get, "/v1/devices/x").status == 404)
            #expect(try await client.call(.post, "/v1/devices", json: #"{"name":"y","table":null}"#).status == 400)

            #expect(try await client.call(.get, "/v1/devices/mp/table").json["text"] as? String == mp + "\n")
            #expect(try await client.call(.get, "/v1/devices/mp/table?which=inactive").status == 404)
            #expect(
                try await client.call(.put, "/v1/devices/mp/table/inactive", text: "0 2048 zero\n").json["tables"]
                    != nil)
            let staged = try await client.call(.get, "/v1/devices/mp/table?which=inactive").json
            #expect(staged["text"] as? String == "0 2048 zero\n")
            let jsonTable =
                #"{"targets":[{"start":0,"length":1024,"type":"zero"},{"start":1024,"length":1024,"type":"error","args":""}]}"#
            #expect(try await client.call(.put, "/v1/devices/mp/table/inactive", json: jsonTable).status == 200)
            #expect(
                try await client.call(.put, "/v1/devices/mp/table/inactive", json: #"{"text":"0 1 zero","targets":[]}"#)
                    .status == 400)
            #expect(
                try await client.call(.delete, "/v1/devices/mp/table/inactive").json["tables"] as? [String: Bool] == [
                    "live": true, "inactive": false,
                ])

            let status = try await client.call(.get, "/v1/devices/mp/status").json
            let target = try #require((status["targets"] as? [[String: Any]])?.first)
            #expect(target["status"] as? String == "1 0 0 1 1 E 0 2 0 p1 A 0 p2 A 0")
            #expect((target["multipath"] as? [String: Any])?["queueIfNoPath"] as? Bool == true)

            #expect(
                try await client.call(.post, "/v1/devices/mp/message", json: #"{"message":"fail_path p1"}"#).json[
                    "reply"] as? String == "")
            #expect(
                try await client.call(.post, "/v1/devices/mp/message", json: #"{"message":"dance"}"#).code == "EINVAL")
            #expect(
                try await client.call(.get, "/v1/devices/mp/events?after=0&timeoutMs=1").json["eventNr"] as? Int == 1)
            #expect(
                try await client.call(.get, "/v1/devices/mp/events?after=1&timeoutMs=1").json["eventNr"] as? Int == 1)

            #expect(
                try await client.call(.post, "/v1/devices", json: #"{"name":"top","table":{"text":"0 8 linear mp 0"}}"#)
                    .status == 201)
            #expect(try await client.call(.delete, "/v1/devices/mp").code == "EBUSY")
            #expect(try await client.call(.post, "/v1/devices/top/rename", json: #"{"newName":"mp"}"#).code == "EEXIST")
            #expect(
                try await client.call(.post, "/v1/devices/top/rename", json: #"{"newName":"top2"}"#).json["name"]
                    as? String == "top2")
            #expect(try await client.call(.delete, "/v1/devices/top2").status == 204)
            #expect(try await client.call(.delete, "/v1/devices/mp").status == 204)
            let devices = try await client.call(.get, "/v1/devices").json["devices"] as? [[String: Any]]
            #expect(devices?.map { $0["name"] as? String } == [])
        }
    }

    @Test("suspend and resume: idempotent, noflush, timeout interrupts with EINTR")
    func suspendResume() async throws {
        let fixture = try await RouterFixture()
        try await fixture.run { client in
            try await client.call(.post, "/v1/devices", json: #"{"name":"z","table":{"text":"0 64 zero"}}"#)
            #expect(
                try await client.call(.post, "/v1/devices/z/suspend", json: #"{"noflush":true}"#).json["state"]
                    as? String == "suspended")
            #expect(try await client.call(.post, "/v1/devices/z/suspend").status == 200)
            #expect(try await client.call(.post, "/v1/devices/z/resume").json["state"] as? String == "active")
            #expect(try await client.call(.post, "/v1/devices/z/resume", json: #"{"noflush":null}"#).status == 200)
            #expect(try await client.call(.post, "/v1/devices/z/suspend", json: #"{"timeoutMs":-1}"#).status == 400)
            #expect(try await client.call(.post, "/v1/devices/empty/resume").status == 404)
            try await client.call(.post, "/v1/devices", json: #"{"name":"empty"}"#)
            #expect(try await client.call(.post, "/v1/devices/empty/resume").code == "EINVAL")
        }
    }

    @Test("data: write and read back, alignment, range, read-only, size limit")
    func data() async throws {
        let fixture = try await RouterFixture(maxDataBytes: 64 * 1024)
        try await fixture.run { client in
            try await client.call(.post, "/v1/backends", json: #"{"name":"d0","file":"d0.img","sizeBytes":1048576}"#)
            try await client.call(.post, "/v1/devices", json: #"{"name":"lin","table":{"text":"0 2048 linear d0 0"}}"#)
            try await client.call(
                .post, "/v1/devices", json: #"{"name":"ro","readOnly":true,"table":{"text":"0 2048 linear d0 0"}}"#)
            let payload = (0..<8192).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let written = try await client.call(.put, "/v1/devices/lin/data?offset=4096", bytes: payload)
            #expect(written.status == 204)
            let bioID = try #require(written.headers[HTTPField.Name("Bio-Id")!])
            let read = try await client.call(.get, "/v1/devices/lin/data?offset=4096&length=8192")
            #expect(read.status == 200 && read.body == payload)
            #expect(
                try Data(contentsOf: fixture.directory.appendingPathComponent("d0.img"))[4096..<12288] == Data(payload))
            #expect(try await client.call(.get, "/v1/bios/\(bioID)").json["state"] as? String == "completed")
            let bios = try await client.call(.get, "/v1/bios?device=lin").json["bios"] as? [[String: Any]]
            #expect(bios?.contains { $0["id"] as? String == bioID && $0["state"] as? String == "completed" } == true)
            #expect(bios?.allSatisfy { $0["device"] as? String == "lin" } == true)
            #expect(try await client.call(.get, "/v1/bios/999999").status == 404)
            #expect(try await client.call(.get, "/v1/bios/abc").status == 400)

            let misaligned = try await client.call(.put, "/v1/devices/lin/data?offset=100", bytes: payload)
            #expect(misaligned.json["detail"] as? String == "offset must be a multiple of 512 of at least 0, not '100'")
            let short = try await client.call(.put, "/v1/devices/lin/data?offset=0", bytes: [1, 2, 3])
            #expect(short.json["detail"] as? String == "data length 3 is not a positive multiple of 512")
            let length = try await client.call(.get, "/v1/devices/lin/data?offset=0&length=100")
            #expect(length.json["detail"] as? String == "length must be a multiple of 512 of at least 512, not '100'")
            #expect(try await client.call(.get, "/v1/devices/lin/data?offset=1048576&length=512").code == "EINVAL")
            #expect(try await client.call(.get, "/v1/devices/lin/data?length=512").code == "EINVAL")
            let ro = try await client.call(.put, "/v1/devices/ro/data?offset=0", bytes: payload)
            #expect(ro.status == 409 && ro.code == "EROFS")
            let big = try await client.call(
                .put, "/v1/devices/lin/data?offset=0", bytes: [UInt8](repeating: 1, count: 128 * 1024))
            #expect(big.status == 413 && big.code == "E2BIG")
            #expect(try await client.call(.get, "/v1/devices/lin/data?offset=0&length=131072").code == "E2BIG")
            #expect(try await client.call(.post, "/v1/devices/lin/flush").status == 204)
            #expect(try await client.call(.get, "/v1/devices/nope/data?offset=0&length=512").status == 404)
        }
    }

    @Test("a failed bio is 502 EIO; respond-async returns 202 for a durably queued bio; idempotency keys")
    func asyncAndIdempotency() async throws {
        // A wait long enough for any commit: the 202 then always reports the durable state.
        let fixture = try await RouterFixture(respondAsyncWait: .seconds(60))
        try await fixture.run { client in
            try await client.call(.post, "/v1/devices", json: #"{"name":"err","table":{"text":"0 64 error"}}"#)
            let failed = try await client.call(
                .put, "/v1/devices/err/data?offset=0", bytes: [UInt8](repeating: 0, count: 512))
            #expect(failed.status == 502 && failed.code == "EIO")

            try await client.queueingMultipathWithoutPath()
            let headers: HTTPFields = [
                HTTPField.Name("Prefer")!: "respond-async", HTTPField.Name("Idempotency-Key")!: "k1",
            ]
            let accepted = try await client.call(
                .put, "/v1/devices/mp/data?offset=512", bytes: [UInt8](repeating: 9, count: 512), headers: headers)
            #expect(accepted.status == 202)
            #expect(accepted.json["state"] as? String == "queued")
            let location = try #require(accepted.headers[.location])
            #expect(accepted.headers[HTTPField.Name("Preference-Applied")!] == "respond-async")
            let again = try await client.call(
                .put, "/v1/devices/mp/data?offset=512", bytes: [UInt8](repeating: 9, count: 512), headers: headers)
            #expect(again.status == 202 && again.headers[.location] == location)
            #expect(
                try await client.call(.get, "/v1/devices/mp").json["io"] as? [String: Int] == [
                    "inFlight": 0, "queued": 1, "pushback": 0, "deferred": 0, "heldBytes": 512, "refused": 0,
                ])
            let queued = try await client.call(.get, "/v1/bios?state=queued").json["bios"] as? [[String: Any]]
            #expect(queued?.map { $0["state"] as? String } == ["queued"])
            #expect(queued?.first.map { "/v1/bios/\($0["id"] as? String ?? "")" } == location)
            try await client.call(.post, "/v1/paths/p1/reinstate")
            let done = try await client.call(
                .put, "/v1/devices/mp/data?offset=512", bytes: [UInt8](repeating: 9, count: 512),
                headers: [HTTPField.Name("Idempotency-Key")!: "k1"])
            #expect(done.status == 204)
            #expect(try await client.call(.get, location).json["state"] as? String == "completed")
        }
    }

    @Test("past the queue limit a write is 503 EAGAIN with Retry-After; the held writes are untouched and land")
    func queueLimit() async throws {
        let fixture = try await RouterFixture(queueLimits: QueueLimits(deviceBytes: 1024, totalBytes: 1 << 30))
        try await fixture.run { client in
            try await client.queueingMultipathWithoutPath()
            let async: HTTPFields = [HTTPField.Name("Prefer")!: "respond-async"]
            for offset in [0, 512] {
                let held = try await client.call(
                    .put, "/v1/devices/mp/data?offset=\(offset)", bytes: [UInt8](repeating: 7, count: 512),
                    headers: async)
                #expect(held.status == 202)
            }
            var headers = async
            headers[HTTPField.Name("Idempotency-Key")!] = "retry-me"
            let refused = try await client.call(
                .put, "/v1/devices/mp/data?offset=1024", bytes: [UInt8](repeating: 8, count: 512), headers: headers)
            #expect(refused.status == 503 && refused.code == "EAGAIN", "\(refused.text)")
            #expect(refused.headers[.retryAfter] == "1")
            #expect((refused.json["detail"] as? String)?.contains("queue limits reached") == true)
            let io = try await client.call(.get, "/v1/devices/mp").json["io"] as? [String: Int]
            #expect(io?["queued"] == 2 && io?["heldBytes"] == 1024 && io?["refused"] == 1)
            try await client.call(.post, "/v1/paths/p1/reinstate")
            // The refused attempt left nothing behind: the same key is a new write now.
            let retried = try await client.call(
                .put, "/v1/devices/mp/data?offset=1024", bytes: [UInt8](repeating: 8, count: 512),
                headers: [HTTPField.Name("Idempotency-Key")!: "retry-me"])
            #expect(retried.status == 204)
            let data = try await client.call(.get, "/v1/devices/mp/data?offset=0&length=1536")
            #expect(data.body == [UInt8](repeating: 7, count: 1024) + [UInt8](repeating: 8, count: 512))
        }
    }

    @Test("errors: malformed JSON, unknown routes, wrong methods, fault injection gating")
    func errors() async throws {
        let fixture = try await RouterFixture()
        try await fixture.run { client in
            let malformed = try await client.call(.post, "/v1/devices", json: "{nope")
            #expect(malformed.status == 400 && malformed.code == "EINVAL")
            #expect(malformed.headers[.contentType] == "application/problem+json")
            #expect(try await client.call(.get, "/v1/nothing").code == "ENOENT")
            let wrongMethod = try await client.call(.patch, "/v1/devices")
            #expect(wrongMethod.status == 405 && wrongMethod.headers[.allow] == "GET, POST")
            #expect(
                try await client.call(.post, "/v1/debug/faults", json: #"{"point":"resume.swap","error":"EIO"}"#).status
                    == 404)
            let huge = String(repeating: "x", count: 2 << 20)
            #expect(try await client.call(.post, "/v1/devices", json: #"{"name":"\#(huge)"}"#).code == "E2BIG")
            #expect(try await client.call(.get, "/v1/events?after=0&timeoutMs=0").json["last"] != nil)
            #expect(try await client.call(.get, "/v1/events?timeoutMs=999999").status == 400)
        }
        let faulty = try await RouterFixture(faults: true)
        try await faulty.run { client in
            try await client.call(.post, "/v1/devices", json: #"{"name":"z","table":{"text":"0 8 zero"}}"#)
            #expect(
                try await client.call(
                    .post, "/v1/debug/faults", json: #"{"point":"suspend.after-presuspend","error":"ENOMEM"}"#
                ).status == 204)
            let failed = try await client.call(.post, "/v1/devices/z/suspend", json: #"{"noflush":true}"#)
            #expect(failed.status == 500 && failed.code == "ENOMEM")
            #expect(try await client.call(.post, "/v1/devices/z/suspend").status == 200)
        }
    }
}
