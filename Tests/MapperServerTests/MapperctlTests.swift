import Foundation
import Testing

/// `mapperctl` end to end: the real binary against the real server (port 0), checking
/// dmsetup's exact output lines, exit statuses and stderr, waits that return on an event,
/// and `--json`.
@Suite("mapperctl", .serialized, .timeLimit(.minutes(5)))
struct MapperctlTests {
    static let mpTable = "0 32768 multipath 1 queue_if_no_path 0 1 1 round-robin 0 2 1 p1 1 p2 1"

    /// A server with backend `disk0` (16 MiB) and paths p1, p2, all made with mapperctl.
    private func setUp(token: String? = nil) async throws -> (ServerProcess, MapperctlProcess) {
        let server = ServerProcess(directory: try temporaryDataDirectory(), token: token)
        try await server.start()
        var ctl = MapperctlProcess(server: server)
        if let token {
            let file = server.directory.deletingLastPathComponent().appendingPathComponent("ctl-token")
            try token.write(to: file, atomically: true, encoding: .utf8)
            ctl.tokenFile = file.path
        }
        try await ok(ctl, ["backend", "create", "disk0", "--file", "disk0.img", "--size", "16777216"])
        try await ok(ctl, ["path", "create", "p1", "disk0"])
        try await ok(ctl, ["path", "create", "p2", "disk0"])
        return (server, ctl)
    }

    /// Runs a verb that must succeed and returns its stdout.
    @discardableResult
    private func ok(_ ctl: MapperctlProcess, _ arguments: [String], stdin: String = "") async throws -> String {
        let result = try await ctl.run(arguments, stdin: stdin)
        #expect(result.status == 0, "mapperctl \(arguments.joined(separator: " ")): \(result.stderr)")
        #expect(result.stderr.isEmpty, "\(arguments): \(result.stderr)")
        return result.stdout
    }

    private func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast(
            text.hasSuffix("\n") ? 1 : 0)
    }

    @Test("create, load, suspend, resume, clear, rename, remove, with dmsetup's table, status and info lines")
    func dmsetupVerbs() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        try await ok(ctl, ["create", "mp0", "--table", Self.mpTable])
        // Two lines on stdin, with a comment and a blank line dropped as dmsetup drops them.
        try await ok(
            ctl, ["create", "lin0", "--uuid", "LIN-0001"],
            stdin: "# two targets\n0 16384 linear disk0 0\n\n16384 16384 zero\n")
        try await ok(ctl, ["create", "empty", "--notable"])

        #expect(
            lines(try await ok(ctl, ["info", "mp0"])) == [
                "Name:              mp0",
                "State:             ACTIVE",
                "Tables present:    LIVE",
                "Open count:        0",
                "Event number:      0",
                "Number of targets: 1",
                "",
            ])
        #expect(lines(try await ok(ctl, ["info", "lin0"])).contains("UUID: LIN-0001"))
        #expect(lines(try await ok(ctl, ["info", "empty"]))[2] == "Tables present:    None")
        #expect(
            lines(try await ok(ctl, ["info", "-c"])) == [
                "Name             Stat Open Targ Event  UUID",
                "empty            --sw    0    0      0 ",
                "lin0             L--w    0    2      0 LIN-0001",
                "mp0              L--w    0    1      0 ",
            ])
        #expect(lines(try await ok(ctl, ["table", "lin0"])) == ["0 16384 linear disk0 0", "16384 16384 zero "])
        #expect(lines(try await ok(ctl, ["table", "mp0"])) == [Self.mpTable])
        #expect(
            lines(try await ok(ctl, ["table"])) == [
                "lin0: 0 16384 linear disk0 0", "lin0: 16384 16384 zero ", "mp0: \(Self.mpTable)",
            ])
        #expect(lines(try await ok(ctl, ["status", "lin0"])) == ["0 16384 linear ", "16384 16384 zero "])
        #expect(
            lines(try await ok(ctl, ["status", "mp0"])) == ["0 32768 multipath 1 0 0 1 1 E 0 2 0 p1 A 0 p2 A 0"])
        #expect(lines(try await ok(ctl, ["ls"])) == ["empty", "lin0", "mp0"])
        #expect(lines(try await ok(ctl, ["ls", "--target", "multipath"])) == ["mp0"])
        #expect(lines(try await ok(ctl, ["deps", "mp0"])) == [" 2 dependencies\t: (p1) (p2)"])
        #expect(lines(try await ok(ctl, ["deps", "lin0"])) == [" 1 dependencies\t: (disk0)"])
        #expect(lines(try await ok(ctl, ["targets"])).contains("linear           v1.0.2"))
        let version = lines(try await ok(ctl, ["version"]))
        #expect(
            version.count == 2 && version[0].hasPrefix("Library version:   ")
                && version[1].hasPrefix("Driver version:    "))

        // A staged table from a file (through the reload alias), inspected, dropped, staged again.
        let file = server.directory.deletingLastPathComponent().appendingPathComponent("mp0.table")
        try "0 32768 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p2 1\n".write(
            to: file, atomically: true, encoding: .utf8)
        try await ok(ctl, ["reload", "mp0", file.path])
        #expect(lines(try await ok(ctl, ["info", "mp0"]))[2] == "Tables present:    LIVE & INACTIVE")
        #expect(
            lines(try await ok(ctl, ["table", "--inactive", "mp0"])) == [
                "0 32768 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p2 1"
            ])
        #expect(
            lines(try await ok(ctl, ["status", "--inactive", "mp0"])) == ["0 32768 multipath 1 0 0 1 1 E 0 1 0 p2 A 0"])
        try await ok(ctl, ["clear", "mp0"])
        #expect(lines(try await ok(ctl, ["info", "mp0"]))[2] == "Tables present:    LIVE")
        try await ok(
            ctl, ["load", "mp0", "--table", "0 32768 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p2 1"])

        try await ok(ctl, ["suspend", "mp0", "--noflush", "--nolockfs", "--timeout-ms", "5000"])
        #expect(lines(try await ok(ctl, ["info", "mp0"]))[1] == "State:             SUSPENDED")
        #expect(
            lines(try await ok(ctl, ["info", "-c", "--noheadings", "mp0"])) == [
                "mp0              LIsw    0    1      0 "
            ])
        try await ok(ctl, ["resume", "mp0", "--noflush"])
        #expect(
            lines(try await ok(ctl, ["table", "mp0"])) == [
                "0 32768 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p2 1"
            ])
        #expect(lines(try await ok(ctl, ["info", "mp0"]))[1] == "State:             ACTIVE")

        // A message to the target; its effect shows in the path's state.
        try await ok(ctl, ["message", "mp0", "0", "fail_path", "p2"])
        #expect(lines(try await ok(ctl, ["status", "mp0"])) == ["0 32768 multipath 1 0 0 1 1 E 0 1 0 p2 F 1"])
        try await ok(ctl, ["message", "mp0", "0", "reinstate_path", "p2"])

        try await ok(ctl, ["rename", "lin0", "lin1"])
        try await ok(ctl, ["remove", "empty"])
        #expect(lines(try await ok(ctl, ["ls"])) == ["lin1", "mp0"])
        try await ok(ctl, ["remove", "--force", "lin1"])
        try await ok(ctl, ["remove", "mp0"])
        #expect(lines(try await ok(ctl, ["ls"])) == ["No devices found"])
    }

    @Test("mapperd's resources: backends, paths, multipathd's show paths and show maps")
    func resources() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        try await ok(ctl, ["create", "mp0", "--table", Self.mpTable])
        try await ok(ctl, ["path", "fail", "p2"])
        try await ok(ctl, ["path", "fault", "p1", "delay", "--delay-ms", "1"])
        #expect(
            lines(try await ok(ctl, ["show", "paths"])) == [
                "dev backend multipath dm_st  chk_st dev_st  failures",
                "p1  disk0   mp0       active undef  running 0",
                "p2  disk0   mp0       failed undef  running 1",
            ])
        #expect(
            lines(try await ok(ctl, ["show", "paths", "--format", "%d %t %S"])) == [
                "dev dm_st  size", "p1  active 16M", "p2  failed 16M",
            ])
        #expect(
            lines(try await ok(ctl, ["show", "maps"])) == [
                "name uuid dm-st  paths size queueing path_faults write_prot",
                "mp0  -    active 2     16M  on       1           rw",
            ])
        #expect(
            lines(try await ok(ctl, ["path", "list"])) == [
                "name backend state  fail_count fault     transport last_check used_by",
                "p1   disk0   active 0          delay 1ms file      -          mp0",
                "p2   disk0   failed 1          none      file      -          mp0",
            ])
        try await ok(ctl, ["path", "reinstate", "p2"])
        try await ok(ctl, ["path", "fault", "p1", "none"])
        let backends = lines(try await ok(ctl, ["backend", "list"]))
        #expect(backends.first == "name  kind size connected used_by source")
        #expect(backends.dropFirst().first == "disk0 file 16M  -         p1,p2   disk0.img")
        try await ok(ctl, ["remove", "mp0"])
        try await ok(ctl, ["path", "create", "p3", "disk0"])
        try await ok(ctl, ["path", "remove", "p3"])
        try await ok(ctl, ["path", "remove", "p1"])
        try await ok(ctl, ["path", "remove", "p2"])
        try await ok(ctl, ["backend", "remove", "disk0"])
        #expect(lines(try await ok(ctl, ["backend", "list"])) == ["name kind size connected used_by source"])
    }

    @Test("thin volumes as the README makes them: messages as dmsetup sends them, a snapshot, a pool grown")
    func thinVolumes() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        try await ok(ctl, ["backend", "create", "tmeta", "--file", "tmeta.img", "--size", "4194304"])
        try await ok(ctl, ["backend", "create", "tdata", "--file", "tdata.img", "--size", "1048576"])
        try await ok(ctl, ["create", "pool", "--table", "0 2048 thin-pool tmeta tdata 128 4"])
        try await ok(ctl, ["message", "pool", "0", "create_thin", "0"])
        try await ok(ctl, ["create", "vol", "--table", "0 8192 thin pool 0"])
        let refused = try await ctl.run(["message", "pool", "0", "create_snap", "1", "0"])
        #expect(refused.status == 1 && refused.stderr.contains("EBUSY"), "\(refused.stderr)")
        try await ok(ctl, ["suspend", "vol"])
        try await ok(ctl, ["message", "pool", "0", "create_snap", "1", "0"])
        try await ok(ctl, ["resume", "vol"])
        try await ok(ctl, ["create", "snap", "--table", "0 8192 thin pool 1"])
        #expect(lines(try await ok(ctl, ["status", "vol"])) == ["0 8192 thin 0 -"])
        #expect(lines(try await ok(ctl, ["table", "snap"])) == ["0 8192 thin pool 1"])
        let pool = lines(try await ok(ctl, ["status", "pool"]))
        #expect(pool.count == 1 && pool[0].hasPrefix("0 2048 thin-pool 0 "), "\(pool)")
        #expect(pool.first?.contains(" 0/16 - rw discard_passdown queue_if_no_space - ") == true, "\(pool)")
        try await ok(ctl, ["backend", "resize", "tdata", "--size", "2097152"])
        try await ok(ctl, ["suspend", "pool", "--noflush"])
        try await ok(ctl, ["load", "pool", "--table", "0 4096 thin-pool tmeta tdata 128 4"])
        try await ok(ctl, ["resume", "pool"])
        #expect(lines(try await ok(ctl, ["status", "pool"])).first?.contains(" 0/32 - rw ") == true)
        let bad = try await ctl.run(["message", "pool", "0", "create_thin", "x"])
        #expect(bad.status == 1 && bad.stderr.contains("EINVAL"), "\(bad.stderr)")
    }

    @Test("errors: exit 1 with the problem's code and detail, exit 2 for usage")
    func errors() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        let missing = try await ctl.run(["remove", "nosuch"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "mapperctl: remove nosuch: ENOENT: no device named 'nosuch'\n")
        #expect(missing.stdout.isEmpty)

        let badTable = try await ctl.run(["create", "bad"], stdin: "0 100 linear disk0 0\n100 garbage\n")
        #expect(badTable.status == 1)
        #expect(badTable.stderr == "mapperctl: create bad: EINVAL: line 2: expected '<start> <length> <type> [args]'\n")
        let badTarget = try await ctl.run(["load", "nosuch", "--table", "0 8 zero"])
        #expect(badTarget.stderr == "mapperctl: load nosuch: ENOENT: no device named 'nosuch'\n")

        for usage in [
            ["frobnicate"], ["info", "--bogus"], ["create", "x", "--notable", "--table", "0 8 zero"],
            ["show", "paths", "--format", "%d %q"], ["message", "mp0", "0"], ["path", "fault", "p1", "melt"],
            ["backend", "create", "b", "--file", "f", "--uri", "nbd://h/e"], ["ls", "--url", "ftp://x"],
        ] {
            let result = try await ctl.run(usage)
            #expect(result.status == 2, "\(usage): \(result.status) \(result.stderr)")
            #expect(!result.stderr.isEmpty)
        }
        let help = try await ctl.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("SUBCOMMANDS"))

        var unreachable = ctl
        unreachable.environment["MAPPERD_URL"] = "http://127.0.0.1:1"
        let refused = try await unreachable.run(["ls"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "mapperctl: ls: ECONNREFUSED: cannot reach http://127.0.0.1:1: connection refused\n")
    }

    @Test("a server with a token: missing token is EACCES, --token-file and MAPPERD_TOKEN work")
    func token() async throws {
        let (server, ctl) = try await setUp(token: "t0ken")
        defer { _ = server.terminate() }
        var anonymous = ctl
        anonymous.tokenFile = nil
        let refused = try await anonymous.run(["ls"])
        #expect(refused.status == 1)
        #expect(refused.stderr == "mapperctl: ls: EACCES: a valid bearer token is required\n")
        #expect(lines(try await ok(ctl, ["ls"])) == ["No devices found"])
        anonymous.environment["MAPPERD_TOKEN"] = "t0ken"
        #expect(lines(try await ok(anonymous, ["ls"])) == ["No devices found"])
        var missingFile = ctl
        missingFile.tokenFile = "/nonexistent/token"
        let unreadable = try await missingFile.run(["ls"])
        #expect(unreadable.status == 1)
        #expect(unreadable.stderr == "mapperctl: ls: ENOENT: cannot read token file '/nonexistent/token'\n")
    }

    @Test("wait and bio wait return on the event; bio list and show see the held bio")
    func waits() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        try await ok(ctl, ["create", "mp0", "--table", Self.mpTable])
        try await ok(ctl, ["path", "fail", "p1"])
        try await ok(ctl, ["path", "fail", "p2"])
        let reply = try await server.call(
            "PUT", "/v1/devices/mp0/data?offset=0", bytes: Data(repeating: 0x5a, count: 4096),
            headers: ["Prefer": "respond-async"])
        #expect(reply.status == 202)
        let id = try #require(reply.header("Bio-Id"))
        #expect(try await server.waitUntilDurable(id)["state"] as? String == "queued")
        let held = lines(try await ok(ctl, ["bio", "list", "--device", "mp0", "--state", "queued"]))
        #expect(held.count == 2 && held[1].hasPrefix(id) && held[1].contains("queued"))
        let shown = try JSONSerialization.jsonObject(with: Data(try await ok(ctl, ["bio", "show", id, "--json"]).utf8))
        #expect((shown as? [String: Any])?["state"] as? String == "queued")

        let eventNr = try #require(
            (try JSONSerialization.jsonObject(with: Data(try await ok(ctl, ["info", "mp0", "--json"]).utf8))
                as? [String: Any])?["eventNr"] as? Int)
        let deviceWait = try ctl.start(["wait", "mp0", String(eventNr), "--json"])
        let bioWait = try ctl.start(["bio", "wait", id])
        try await ok(ctl, ["path", "reinstate", "p1"])
        let waited = await deviceWait.finish()
        #expect(waited.status == 0, "\(waited.stderr)")
        let reached = try JSONSerialization.jsonObject(with: Data(waited.stdout.utf8)) as? [String: Any]
        #expect((reached?["eventNr"] as? Int ?? 0) > eventNr)
        let bioDone = await bioWait.finish()
        #expect(bioDone.status == 0, "\(bioDone.stderr)")
        #expect(lines(bioDone.stdout).last?.contains("completed") == true)

        // A bio that fails: bio wait exits 1 with its error.
        try await ok(ctl, ["path", "fault", "p1", "error"])
        try await ok(ctl, ["path", "fault", "p2", "error"])
        try await ok(ctl, ["message", "mp0", "0", "fail_if_no_path"])
        let failing = try await server.call(
            "PUT", "/v1/devices/mp0/data?offset=4096", bytes: Data(repeating: 1, count: 4096))
        #expect(failing.status >= 400)
        let failedID = try #require(
            try await server.call("GET", "/v1/bios?device=mp0&state=failed").json["bios"]
                .flatMap { ($0 as? [[String: Any]])?.first?["id"] as? String })
        let failedWait = try await ctl.run(["bio", "wait", failedID])
        #expect(failedWait.status == 1)
        #expect(failedWait.stderr.hasPrefix("mapperctl: bio wait \(failedID): EIO: bio \(failedID) failed\n"))
    }

    @Test("events --follow prints events as they come and stops on Ctrl-C with status 130")
    func eventsFollow() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        try await ok(ctl, ["create", "lin0", "--table", "0 8 zero"])
        let all = lines(try await ok(ctl, ["events"]))
        #expect(all.contains { $0.contains("device.created device=lin0") })
        let follow = try ctl.start(["events", "--follow", "--json"])
        try await ok(ctl, ["rename", "lin0", "lin1"])
        var renamed: [String: Any]?
        for await line in follow.lines {
            let event = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            if event?["kind"] as? String == "device.renamed" {
                renamed = event
                break
            }
        }
        #expect(renamed?["device"] as? String == "lin1")
        follow.interrupt()
        let stopped = await follow.finish()
        #expect(stopped.status == 130)
        #expect(stopped.stderr.contains("mapperctl: interrupted"))
    }

    @Test("--json prints the API's JSON, before or after the verb")
    func json() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        let created = try await ok(ctl, ["create", "mp0", "--json", "--table", Self.mpTable])
        let device = try JSONSerialization.jsonObject(with: Data(created.utf8)) as? [String: Any]
        #expect(device?["name"] as? String == "mp0")
        #expect(device?["state"] as? String == "active")
        let before = try await ok(ctl, ["--json", "info", "mp0"])
        let after = try await ok(ctl, ["info", "mp0", "--json"])
        #expect(before == after)
        let api = try await server.call("GET", "/v1/devices/mp0").json
        let info = try JSONSerialization.jsonObject(with: Data(after.utf8)) as? [String: Any]
        #expect(info?["eventNr"] as? Int == api["eventNr"] as? Int)
        #expect((info?["tables"] as? [String: Bool]) == (api["tables"] as? [String: Bool]))
        for verb in [
            ["ls"], ["table", "mp0"], ["status", "mp0"], ["targets"], ["show", "paths"], ["show", "maps"],
            ["path", "list"], ["backend", "list"], ["bio", "list"], ["events"], ["deps", "mp0"], ["version"],
        ] {
            let text = try await ok(ctl, verb + ["--json"])
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil, "\(verb): \(text)")
        }
    }

    @Test("move follows its job to the end; job list, show, throttle, pause and cancel print the job")
    func moveAndJobs() async throws {
        let (server, ctl) = try await setUp()
        defer { _ = server.terminate() }
        try await ok(ctl, ["backend", "create", "disk1", "--file", "disk1.img", "--size", "16777216"])
        try await ok(ctl, ["create", "lin", "--table", "0 8192 linear disk0 0"])
        let moved = lines(
            try await ok(ctl, ["move", "lin", "--from", "disk0", "--to", "disk1", "--region-size", "256"]))
        #expect(moved.first?.split(separator: " ").first == "id", "\(moved)")
        #expect(moved.last?.hasPrefix("move-1") == true && moved.last?.contains("completed") == true, "\(moved)")
        #expect(lines(try await ok(ctl, ["table", "lin"])) == ["0 8192 linear disk1 0"])
        let list = lines(try await ok(ctl, ["job", "list"]))
        #expect(list.count == 2 && list[1].contains("move-1") && list[1].contains("4M"), "\(list)")
        // A second move, held back by a 1 byte/s limit: throttled, paused and cancelled.
        let started = try await ok(
            ctl, ["move", "lin", "--from", "disk1", "--to", "disk0", "--max-rate", "1", "--no-wait", "--json"])
        #expect(started.contains("\"id\" : \"move-2\""), "\(started)")
        #expect(try await ok(ctl, ["job", "throttle", "move-2", "2"]).contains("move-2"))
        #expect(try await ok(ctl, ["job", "pause", "move-2"]).contains("(paused)"))
        #expect(try await ok(ctl, ["job", "cancel", "move-2"]).contains("cancelled"))
        #expect(lines(try await ok(ctl, ["table", "lin"])) == ["0 8192 linear disk1 0"])
        let refused = try await ctl.run(["job", "pause", "move-2"])
        #expect(refused.status == 1 && refused.stderr.contains("EINVAL"), "\(refused.stderr)")
        let missing = try await ctl.run(["job", "show", "move-7"])
        #expect(missing.status == 1 && missing.stderr.contains("ENOENT"), "\(missing.stderr)")
    }
}
