import Foundation
import MapperCore
import PostgresNIO

/// Where a PostgreSQL store is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or
/// (libpq's way of naming a unix socket) `postgres://USER@/DATABASE?host=/socket/directory`
/// with an optional `port` parameter naming the socket's port number. `postgresql://` works
/// too. TLS is not used: connect over loopback, a unix socket or a private network.
public struct PostgresLocation: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file (`<directory>/.s.PGSQL.<port>`).
        case socket(path: String)
    }

    public let endpoint: Endpoint
    public let user: String
    public let password: String?
    public let database: String

    /// Parses `text`; anything else than the forms above is EINVAL naming what is wrong.
    public init(_ text: String) throws {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else { throw MapperError(.EINVAL, "store '\(text)': not a postgres:// URL") }
        guard let user = components.user, !user.isEmpty else {
            throw MapperError(.EINVAL, "store '\(text)': names no user (postgres://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw MapperError(.EINVAL, "store '\(text)': names no database (postgres://USER@HOST/DATABASE)")
        }
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let port =
            try query["port"].map { value -> Int in
                guard let port = Int(value), (1...65535).contains(port) else {
                    throw MapperError(.EINVAL, "store '\(text)': port '\(value)' is not a port number")
                }
                return port
            } ?? components.port ?? 5432
        if let directory = query["host"], directory.hasPrefix("/") {
            endpoint = .socket(path: "\(directory)/.s.PGSQL.\(port)")
        } else if let host = components.host, !host.isEmpty {
            endpoint = .tcp(host: host, port: port)
        } else {
            throw MapperError(.EINVAL, "store '\(text)': names no host (or ?host=/socket/directory)")
        }
        self.user = user
        self.password = components.password
        self.database = database
    }

    /// The location without its password, for logs and errors.
    public var description: String {
        switch endpoint {
        case .tcp(let host, let port): "postgres://\(user)@\(host):\(port)/\(database)"
        case .socket(let path): "postgres://\(user)@/\(database) (socket \(path))"
        }
    }

    var configuration: PostgresConnection.Configuration {
        switch endpoint {
        case .tcp(let host, let port):
            PostgresConnection.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: .disable)
        case .socket(let path):
            PostgresConnection.Configuration(
                unixSocketPath: path, username: user, password: password, database: database)
        }
    }
}
