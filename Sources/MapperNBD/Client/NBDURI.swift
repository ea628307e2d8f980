import Foundation
import MapperCore

/// An NBD URI as libnbd writes them (the NBD project's `doc/uri.md`): `nbd://HOST[:PORT]/EXPORT`
/// (TCP, port 10809 by default) or `nbd+unix:///EXPORT?socket=PATH`. The export name is the
/// path without its leading slash, percent-decoded (empty: the server's default export).
/// TLS (`nbds`, `nbds+unix`) and other transports are refused with ENOTSUP.
public struct NBDURI: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var exportName: String
    /// The URI as given.
    public var description: String

    /// EINVAL for anything that is not a usable NBD URI.
    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw MapperError(.EINVAL, "'\(text)' is not a URI (nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)")
        }
        let path = components.percentEncodedPath
        let rawName = path.hasPrefix("/") ? String(path.dropFirst()) : path
        guard let name = rawName.removingPercentEncoding, name.utf8.count <= NBD.maximumString else {
            throw MapperError(.EINVAL, "bad export name in '\(text)'")
        }
        switch scheme {
        case "nbd":
            guard let host = components.host, !host.isEmpty else {
                throw MapperError(.EINVAL, "'\(text)' names no host")
            }
            let port = components.port ?? 10809
            guard (1...65535).contains(port) else { throw MapperError(.EINVAL, "bad port in '\(text)'") }
            address = .tcp(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)
        case "nbd+unix":
            guard components.host?.isEmpty ?? true else {
                throw MapperError(.EINVAL, "'\(text)': nbd+unix takes no host (nbd+unix:///EXPORT?socket=PATH)")
            }
            guard let socket = components.queryItems?.first(where: { $0.name == "socket" })?.value, !socket.isEmpty
            else { throw MapperError(.EINVAL, "'\(text)' names no socket (nbd+unix:///EXPORT?socket=PATH)") }
            address = .unix(path: socket)
        case "nbds", "nbds+unix", "nbd+vsock", "nbds+vsock":
            throw MapperError(.ENOTSUP, "'\(scheme)' URIs are not supported (TLS and vsock): use nbd:// or nbd+unix://")
        default:
            throw MapperError(.EINVAL, "'\(text)' is not an NBD URI (nbd:// or nbd+unix://)")
        }
        exportName = name
        description = text
    }
}
