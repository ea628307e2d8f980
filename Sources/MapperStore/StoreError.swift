import MapperCore

/// Errors of the store module.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    /// The store was closed.
    case closed
    /// The database file cannot be opened or is not a mapperd database.
    case unreadable(path: String, reason: String)
    /// Another server holds the data directory.
    case locked(path: String)

    public var description: String {
        switch self {
        case .closed: return "the store is closed"
        case .unreadable(let path, let reason): return "cannot open the database '\(path)': \(reason)"
        case .locked(let path): return "another mapperd is using the data directory '\(path)'"
        }
    }

    /// The engine's form of the error.
    public var mapperError: MapperError {
        switch self {
        case .closed: return MapperError(.EIO, description)
        case .unreadable: return MapperError(.EIO, description)
        case .locked: return MapperError(.EBUSY, description)
        }
    }
}
