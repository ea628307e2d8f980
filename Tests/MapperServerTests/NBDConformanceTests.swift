import Foundation
import MapperTestSupport
import Testing

/// NBD protocol corner cases probed with libnbd (`Scripts/nbd_conformance.py`) against the
/// real `mapperd` (a linear device over a file backend) and, in the same run, against
/// `nbdkit file` on a file of the same size. Each case must get an answer the spec accepts
/// from mapperd; where mapperd and nbdkit differ, the script must list the case and why.
@Suite(
    "NBD conformance", .serialized, .timeLimit(.minutes(2)),
    .enabled(
        if: ExternalTool.available("nbdkit") && FileManager.default.fileExists(atPath: "/usr/bin/python3")
            && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/nbd.py"),
        "nbdkit or python3-libnbd is not installed"))
struct NBDConformanceTests {
    static let size = 4 << 20

    struct Answer: Decodable {
        let `case`: String
        let spec: [String]
        let mapperd: String
        let nbdkit: String
        let difference: String?
    }

    struct Report: Decodable {
        let cases: [Answer]
        let size: Int
    }

    @Test("every probe gets a spec answer from mapperd; each difference from nbdkit is listed")
    func conformance() async throws {
        let directory = try temporaryDataDirectory()
        let server = ServerProcess(directory: directory)
        try await server.start()
        defer { _ = server.terminate() }
        let backend = try await server.call(
            "POST", "/v1/backends", json: #"{"name":"disk","file":"disk.img","sizeBytes":\#(Self.size)}"#)
        #expect(backend.status == 201)
        let device = try await server.call(
            "POST", "/v1/devices", json: #"{"name":"d0","table":{"text":"0 \#(Self.size >> 9) linear disk 0"}}"#)
        #expect(device.status == 201, "\(String(decoding: device.body, as: UTF8.self))")

        // The script starts nbdkit on its own file, on a private unix socket, and runs the probe
        // under it once it listens (`--run`); nbdkit exits with the probe: no port, no wait.
        let file = directory.appendingPathComponent("nbdkit.img")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: UInt64(Self.size))
        try handle.close()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scripts/nbd_conformance.py")
        let result = try await ExternalTool.run(
            "/usr/bin/python3", [script.path, "--nbdkit", file.path, server.nbdURI("d0")])
        try #require(result.succeeded, "\(result.output)")
        // nbdkit logs the requests it refuses on the same output; the report is one JSON line.
        let line = try #require(result.output.split(separator: "\n").first { $0.hasPrefix("{\"cases\"") })
        let report = try JSONDecoder().decode(Report.self, from: Data(line.utf8))
        #expect(report.size == Self.size)
        #expect(report.cases.count >= 30)
        for answer in report.cases {
            #expect(answer.spec.contains(answer.mapperd), "\(answer.case): mapperd answered \(answer.mapperd)")
            if answer.mapperd == answer.nbdkit {
                #expect(answer.difference == nil, "\(answer.case): listed as a difference, but both answer \(answer.mapperd)")
            } else {
                #expect(
                    answer.difference != nil,
                    "\(answer.case): mapperd answered \(answer.mapperd), nbdkit \(answer.nbdkit), and the script does not say why")
            }
        }
    }
}
