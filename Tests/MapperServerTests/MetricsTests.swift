import Foundation
import MapperTestSupport
import Testing

/// `GET /metrics` (Prometheus' default `metrics_path`) over the real binary, parsed by
/// prometheus_client's parser (the reference one), with the counters checked against the I/O
/// the test did; `GET /v1/metrics` serves the same.
@Suite(
    "metrics", .serialized, .timeLimit(.minutes(3)),
    .enabled(
        if: FileManager.default.fileExists(atPath: "/usr/bin/python3")
            && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/prometheus_client"),
        "python3-prometheus-client is not installed"))
struct MetricsTests {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    struct Scrape {
        let families: [String: String]
        let samples: [Sample]

        /// The one sample with this name and (at least) these labels.
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            let matching = samples.filter { sample in
                sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
            }
            return matching.count == 1 ? matching[0].value : nil
        }
    }

    /// Scrapes the server where Prometheus does by default and parses the answer with
    /// prometheus_client.
    private func scrape(_ server: ServerProcess) async throws -> Scrape {
        let reply = try await server.call("GET", "/metrics")
        #expect(reply.status == 200)
        #expect(reply.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).txt")
        try reply.body.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/parse_metrics.py")
        let parsed = try await ExternalTool.run("/usr/bin/python3", [script.path, file.path])
        try #require(parsed.succeeded, "\(parsed.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(parsed.output.utf8)) as? [String: Any])
        let samples = (json["samples"] as? [[String: Any]] ?? []).map { sample in
            Sample(
                name: sample["name"] as? String ?? "", labels: sample["labels"] as? [String: String] ?? [:],
                value: sample["value"] as? Double ?? .nan)
        }
        return Scrape(families: json["families"] as? [String: String] ?? [:], samples: samples)
    }

    private func ok(_ reply: ServerProcess.Reply, _ status: Int = 201) {
        #expect(reply.status == status, "\(String(decoding: reply.body, as: UTF8.self))")
    }

    @Test("device, path, journal, HTTP and NBD families; counters match the I/O done")
    func countersMatchTheIO() async throws {
        let server = ServerProcess(directory: try temporaryDataDirectory())
        try await server.start()
        defer { _ = server.terminate() }
        ok(try await server.call("POST", "/v1/backends", json: #"{"name":"disk","file":"disk.img","sizeBytes":16777216}"#))
        for path in ["p1", "p2"] {
            ok(try await server.call("POST", "/v1/paths", json: #"{"name":"\#(path)","backend":"disk"}"#))
        }
        ok(try await server.call("POST", "/v1/devices", json: #"{"name":"lin","table":{"text":"0 32768 linear disk 0"}}"#))
        ok(try await server.call("POST", "/v1/devices", json: #"{"name":"err","table":{"text":"0 8 error"}}"#))
        ok(
            try await server.call(
                "POST", "/v1/devices",
                json: #"{"name":"mp","table":{"text":"0 32768 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"}}"#
            ))

        let block = Data(repeating: 0xa5, count: 4096)
        for index in 0..<5 {
            ok(try await server.call("PUT", "/v1/devices/lin/data?offset=\(index * 4096)", bytes: block), 204)
        }
        for index in 0..<3 {
            ok(try await server.call("GET", "/v1/devices/lin/data?offset=\(index * 8192)&length=8192"), 200)
        }
        ok(try await server.call("POST", "/v1/devices/lin/flush"), 204)
        #expect(try await server.call("GET", "/v1/devices/err/data?offset=0&length=512").status >= 500)

        // A write held by multipath without paths, then a noflush suspend: it moves to deferred.
        ok(try await server.call("POST", "/v1/paths/p1/fail"), 200)
        ok(try await server.call("POST", "/v1/paths/p2/fail"), 200)
        ok(
            try await server.call(
                "PUT", "/v1/devices/mp/data?offset=0", bytes: block, headers: ["Prefer": "respond-async"]), 202)
        var metrics = try await scrape(server)
        #expect(metrics.value("mapperd_device_held_bios", ["device": "mp", "location": "target"]) == 1)
        #expect(metrics.value("mapperd_disk_io_now", ["device": "mp"]) == 1)
        #expect(metrics.value("mapperd_device_held_bytes", ["device": "mp"]) == 4096)
        ok(try await server.call("POST", "/v1/devices/mp/suspend", json: #"{"noflush":true}"#), 200)

        metrics = try await scrape(server)
        let lin = ["device": "lin"]
        #expect(metrics.families["mapperd_disk_writes_completed"] == "counter")
        #expect(metrics.families["mapperd_disk_io_duration_seconds"] == "histogram")
        #expect(metrics.value("mapperd_disk_writes_completed_total", lin) == 5)
        #expect(metrics.value("mapperd_disk_written_bytes_total", lin) == 20480)
        #expect(metrics.value("mapperd_disk_reads_completed_total", lin) == 3)
        #expect(metrics.value("mapperd_disk_read_bytes_total", lin) == 24576)
        #expect(metrics.value("mapperd_disk_flush_requests_total", lin) == 1)
        #expect((metrics.value("mapperd_disk_write_time_seconds_total", lin) ?? 0) > 0)
        #expect(metrics.value("mapperd_disk_io_duration_seconds_count", ["device": "lin", "op": "write"]) == 5)
        #expect(
            metrics.value("mapperd_disk_io_duration_seconds_bucket", ["device": "lin", "op": "write", "le": "+Inf"]) == 5)
        #expect(metrics.value("mapperd_disk_io_duration_seconds_count", ["device": "lin", "op": "read"]) == 3)
        #expect(metrics.value("mapperd_disk_io_now", lin) == 0)
        #expect(metrics.value("mapperd_device_suspended", lin) == 0)
        #expect(metrics.value("mapperd_disk_io_failed_total", ["device": "err", "op": "read"]) == 1)
        #expect(metrics.value("mapperd_disk_reads_completed_total", ["device": "err"]) == 0)

        let mpDevice = try await server.call("GET", "/v1/devices/mp").json
        #expect(metrics.value("mapperd_device_suspended", ["device": "mp"]) == 1)
        #expect(metrics.value("mapperd_device_held_bios", ["device": "mp", "location": "deferred"]) == 1)
        #expect(metrics.value("mapperd_device_held_bios", ["device": "mp", "location": "target"]) == 0)
        #expect(metrics.value("mapperd_device_event_number", ["device": "mp"]) == mpDevice["eventNr"] as? Double)
        #expect(metrics.value("mapperd_disk_writes_completed_total", ["device": "mp"]) == 0)

        #expect(metrics.value("mapperd_path_up", ["path": "p1"]) == 0)
        #expect(metrics.value("mapperd_path_failures_total", ["path": "p1"]) == 1)

        let commits = try #require(metrics.value("mapperd_journal_commits_total"))
        #expect(commits > 0)
        #expect(metrics.value("mapperd_journal_items_per_commit_count") == commits)
        #expect(metrics.value("mapperd_journal_commit_duration_seconds_count") == commits)

        #expect(
            metrics.value(
                "mapperd_http_requests_total",
                ["route": "/v1/devices/{name}/data", "method": "PUT", "status": "204"]) == 5)
        #expect(metrics.families["mapperd_http_request_duration_seconds"] == "histogram")
        #expect(metrics.value("mapperd_nbd_connections_accepted_total") == 0)
        #expect(metrics.value("mapperd_build_info") == 1)

        // Resume: the deferred write is re-issued, fails again without paths, and is held again.
        ok(try await server.call("POST", "/v1/paths/p1/reinstate"), 200)
        ok(try await server.call("POST", "/v1/devices/mp/resume", json: #"{"noflush":true}"#), 200)
        metrics = try await scrape(server)
        #expect(metrics.value("mapperd_disk_writes_completed_total", ["device": "mp"]) == 1)
        #expect(metrics.value("mapperd_path_up", ["path": "p1"]) == 1)
        #expect(metrics.value("mapperd_disk_io_now", ["device": "mp"]) == 0)
    }

    @Test("metrics need the token like the rest of the API")
    func tokenRequired() async throws {
        let server = ServerProcess(directory: try temporaryDataDirectory(), token: "metrics-token")
        try await server.start()
        defer { _ = server.terminate() }
        for path in ["/metrics", "/v1/metrics"] {
            let refused = try await server.call("GET", path, authorized: false)
            #expect(refused.status == 401, "\(path)")
            #expect(refused.code == "EACCES")
            #expect(try await server.call("GET", path).status == 200, "\(path)")
        }
    }

    @Test("SIGTERM ends a long poll at once: the server stops without waiting for its timeout")
    func longPollEndsAtShutdown() async throws {
        let server = ServerProcess(directory: try temporaryDataDirectory())
        try await server.start()
        let poll = Task { try await server.call("GET", "/v1/events?after=999999&timeoutMs=300000") }
        // The poll is being served once the active-requests gauge counts it beside the scrape.
        var active = 0.0
        while active < 2 {
            active = try await scrape(server).value("mapperd_http_active_requests", ["method": "GET"]) ?? 0
        }
        #expect(server.terminate() == 0)
        let reply = try await poll.value
        #expect(reply.status == 200)
    }
}
