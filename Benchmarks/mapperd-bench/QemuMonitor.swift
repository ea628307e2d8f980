import Foundation
import MapperCore

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking QMP client on a Unix socket (one JSON object a line): the capabilities
/// handshake at connection, then commands one at a time. Events that arrive while a command
/// waits for its answer are skipped; ``nextEvent()`` waits for the next one.
final class QemuMonitor {
    private let descriptor: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        descriptor = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw MapperBenchError("socket failed: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            throw MapperBenchError("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw MapperBenchError("cannot connect to \(path): errno \(errno)")
        }
        _ = try message()  // the greeting
        try execute("qmp_capabilities")
    }

    deinit { close(descriptor) }

    /// Sends `command` and returns its answer's `return` value; throws its `error`.
    @discardableResult
    func execute(_ command: String, _ arguments: [String: Any] = [:]) throws -> Any {
        var request: [String: Any] = ["execute": command]
        if !arguments.isEmpty { request["arguments"] = arguments }
        var line = try JSONSerialization.data(withJSONObject: request)
        line.append(UInt8(ascii: "\n"))
        try line.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let written = write(descriptor, raw.baseAddress! + sent, raw.count - sent)
                guard written > 0 else { throw MapperBenchError("QMP write failed: errno \(errno)") }
                sent += written
            }
        }
        while true {
            let answer = try message()
            if answer["event"] != nil { continue }
            if let error = answer["error"] as? [String: Any] {
                throw MapperBenchError("QMP \(command): \(error["desc"] ?? error)")
            }
            return answer["return"] ?? [:]
        }
    }

    /// Waits for the next event; returns its name.
    func nextEvent() throws -> String {
        while true {
            if let event = try message()["event"] as? String { return event }
        }
    }

    private func message() throws -> [String: Any] {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(buffer[..<end])
                buffer.removeSubrange(...end)
                guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw MapperBenchError("QMP sent something that is not an object")
                }
                return object
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { throw MapperBenchError("QMP connection closed") }
            buffer += chunk[..<count]
        }
    }
}
