import Foundation

/// TLS pre-shared keys in psktool's format, as nbdkit, qemu and libnbd read them: one
/// `identity:hexkey` per line (`psktool -u alice -p keys.psk`). Blank lines are skipped.
public struct NBDPreSharedKeys: Sendable, Equatable {
    /// Key bytes by identity (username).
    public let keys: [String: [UInt8]]

    public init(keys: [String: [UInt8]]) {
        self.keys = keys
    }

    /// Parses psktool text; the error names the line at fault.
    public init(parsing text: String) throws {
        var keys: [String: [UInt8]] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw NBDConfigurationError("line \(index + 1): expected identity:hexkey")
            }
            let identity = String(line[..<colon])
            let hex = Array(line[line.index(after: colon)...].utf8)
            guard !hex.isEmpty, hex.count % 2 == 0, let key = Self.decodeHex(hex) else {
                throw NBDConfigurationError("line \(index + 1): the key of '\(identity)' is not an even number of hex digits")
            }
            keys[identity] = key
        }
        guard !keys.isEmpty else { throw NBDConfigurationError("no keys") }
        self.keys = keys
    }

    /// Reads and parses `path`.
    public init(contentsOf path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw NBDConfigurationError("cannot read the PSK file '\(path)'")
        }
        do {
            try self.init(parsing: text)
        } catch let error as NBDConfigurationError {
            throw NBDConfigurationError("PSK file '\(path)': \(error.description)")
        }
    }

    private static func decodeHex(_ digits: [UInt8]) -> [UInt8]? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 0x30...0x39: return digit - 0x30
            case 0x61...0x66: return digit - 0x61 + 10
            case 0x41...0x46: return digit - 0x41 + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

/// A configuration the NBD export cannot start with.
public struct NBDConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
