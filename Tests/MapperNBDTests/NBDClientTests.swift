import Foundation

#if canImport(Glibc)
    import Glibc
#endif
import MapperCore
import MapperTestSupport
import Testing

@testable import MapperNBD

/// The NBD client against a real nbdkit: handshake, I/O of every op, many requests in
/// flight, server errors, and a server that dies under requests.
@Suite("NBD client", .enabled(if: NBDKit.isAvailable, "needs nbdkit"))
struct NBDClientTests {
    final class Done: BlockIOCompletion, @unchecked Sendable {
        let stream = AsyncStream<Errno?>.makeStream()
        func endIO(_ error: Errno?) {
            stream.continuation.yield(error)
            stream.continuation.finish()
        }
        func result() async -> Errno?? { await stream.stream.first { _ in true } }
    }

    /// nbdkit answers its handshake once the process has started: on a loaded machine (the
    /// whole suite in parallel) that can take longer than the client's default 5 s.
    static let configuration = NBDClientConfiguration(connectTimeout: .seconds(30))

    static func io(_ connection: NBDClientConnection, _ op: BioOp, sector: UInt64, sectors: UInt64, buffer: IOBuffer?) async -> Errno? {
        let done = Done()
        connection.submit(BlockRequest(op: op, sector: sector, sectors: sectors, buffer: buffer, bufferOffset: 0, completion: done))
        return await done.result() ?? .EIO
    }

    @Test("negotiates with nbdkit and reads back what it wrote, with structured replies")
    func readWrite() async throws {
        let nbdkit = NBDKit(["memory", "1M"])
        try nbdkit.start()
        let connection = try await NBDClientConnection.connect(to: try NBDURI(nbdkit.uri), configuration: Self.configuration)
        defer { connection.close() }
        #expect(connection.info.sizeBytes == 1 << 20)
        #expect(connection.info.structuredReplies)
        let bytes = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        #expect(await Self.io(connection, .write, sector: 16, sectors: 16, buffer: IOBuffer(copying: bytes)) == nil)
        #expect(await Self.io(connection, .flush, sector: 0, sectors: 0, buffer: nil) == nil)
        let back = IOBuffer(count: 8192)
        #expect(await Self.io(connection, .read, sector: 16, sectors: 16, buffer: back) == nil)
        #expect(Array(back.bytes) == bytes)
        #expect(await Self.io(connection, .discard, sector: 16, sectors: 8, buffer: nil) == nil)
        let trimmed = IOBuffer(count: 4096)
        #expect(await Self.io(connection, .read, sector: 16, sectors: 8, buffer: trimmed) == nil)
        #expect(trimmed.bytes.allSatisfy { $0 == 0 })
        // Beyond the end: the server's EINVAL comes back, the connection stays up.
        #expect(await Self.io(connection, .read, sector: 2048, sectors: 8, buffer: IOBuffer(count: 4096)) == .EINVAL)
        #expect(connection.isOpen)
    }

    @Test("64 requests in flight at once each get their own reply")
    func manyInFlight() async throws {
        let nbdkit = NBDKit(["memory", "1M"])
        try nbdkit.start()
        let connection = try await NBDClientConnection.connect(to: try NBDURI(nbdkit.uri), configuration: Self.configuration)
        defer { connection.close() }
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let buffer = IOBuffer(copying: [UInt8](repeating: UInt8(index), count: 4096))
                    #expect(await Self.io(connection, .write, sector: UInt64(index * 8), sectors: 8, buffer: buffer) == nil)
                }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let buffer = IOBuffer(count: 4096)
                    #expect(await Self.io(connection, .read, sector: UInt64(index * 8), sectors: 8, buffer: buffer) == nil)
                    #expect(buffer.bytes.allSatisfy { $0 == UInt8(index) })
                }
            }
        }
    }

    @Test("an unknown export is ENOENT, a missing socket ENOENT or ECONNREFUSED, a bad URI EINVAL")
    func connectErrors() async throws {
        let nbdkit = NBDKit(["memory", "1M"])
        try nbdkit.start()
        // nbdkit serves its one export under any name unless told otherwise; ask for a
        // missing socket instead and a bad URI.
        let fixture = try EngineFixture()
        let missing = try NBDURI("nbd+unix:///?socket=\(fixture.directory.path)/nothing.sock")
        await #expect(throws: MapperError.self) {
            _ = try await NBDClientConnection.connect(to: missing, configuration: Self.configuration)
        }
        do {
            _ = try await NBDClientConnection.connect(to: missing, configuration: Self.configuration)
        } catch let error as MapperError {
            #expect([Errno.ENOENT, .ECONNREFUSED].contains(error.errno))
        }
        #expect(throws: MapperError.self) { try NBDURI("http://example.com/x") }
        #expect(throws: MapperError.self) { try NBDURI("nbd+unix:///x") }
        #expect((try? NBDURI("nbds://host/x")) == nil)
        #expect(try NBDURI("nbd://127.0.0.1/disk%201").exportName == "disk 1")
        #expect(try NBDURI("nbd://[::1]:10810/").address == .tcp(host: "::1", port: 10810))
    }

    /// A loopback socket that listens but never accepts: connecting succeeds (the kernel's
    /// backlog), the greeting never comes.
    static func silentListener() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        #expect(bound)
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    @Test("a server that never greets: connect gives up at its timeout, and a check at the checker's")
    func silentServer() async throws {
        let (fd, port) = try Self.silentListener()
        defer { close(fd) }
        let uri = try NBDURI("nbd://127.0.0.1:\(port)/")
        do {
            _ = try await NBDClientConnection.connect(to: uri, configuration: .init(connectTimeout: .milliseconds(100)))
            Issue.record("connected to a server that never greets")
        } catch let error as MapperError {
            #expect(error.errno == .ETIMEDOUT)
        }
        let fixture = try EngineFixture()
        let backend = try await fixture.backend("disk", sectors: 8)
        let transport = NBDTransport(uri: uri, expectedSizeBytes: nil, configuration: .init(connectTimeout: .seconds(600)))
        let path = Path(name: "p1", backend: backend, transport: transport)
        #expect(await path.check(timeout: .milliseconds(100)) == .ETIMEDOUT)
        #expect(path.lastCheck?.error == .ETIMEDOUT)
        transport.close()
    }

    @Test("when the server dies, every request in flight ends with EIO, and later ones at once")
    func serverDies() async throws {
        // The delay filter holds every read, so requests are in flight when the server dies.
        let nbdkit = NBDKit(["--filter=delay", "memory", "1M", "rdelay=30"])
        try nbdkit.start()
        let connection = try await NBDClientConnection.connect(to: try NBDURI(nbdkit.uri), configuration: Self.configuration)
        let reads = (0..<4).map { _ in Done() }
        for (index, done) in reads.enumerated() {
            connection.submit(
                BlockRequest(op: .read, sector: UInt64(index * 8), sectors: 8, buffer: IOBuffer(count: 4096), bufferOffset: 0, completion: done))
        }
        #expect(connection.inFlightCount == 4)
        await nbdkit.kill()
        for done in reads { #expect(await done.result() == .some(.EIO)) }
        #expect(await Self.io(connection, .read, sector: 0, sectors: 8, buffer: IOBuffer(count: 4096)) == .EIO)
        #expect(!connection.isOpen)
    }
}
