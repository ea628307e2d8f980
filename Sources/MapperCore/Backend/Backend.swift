/// The storage that paths lead to and tables map onto: a local file (``FileBackend``) or an
/// export on another machine (``RemoteBackend``). Multipath requires all of a target's paths
/// to reach the same backend.
public protocol Backend: BlockNode {
    /// Where the data lives.
    var source: BackendSource { get }
    /// The transport a new path to this backend uses: the file itself for a file backend; a
    /// connection of its own for a remote one, to `uri` or, when `nil`, to the backend's URI.
    /// The transport is not connected yet. EINVAL when `uri` is given for a file backend or
    /// is not a URI the connector takes.
    func makePathTransport(uri: String?) throws -> any PathTransport
}

/// Where a backend's data lives, as the API shows it.
public enum BackendSource: Sendable, Equatable {
    /// A file, named as the caller gave it (relative to the data directory for the API).
    case file(String)
    /// A remote export (`nbd://HOST[:PORT]/EXPORT`, `nbd+unix:///EXPORT?socket=PATH`).
    case remote(uri: String)

    public var file: String? {
        if case .file(let file) = self { return file }
        return nil
    }

    public var uri: String? {
        if case .remote(let uri) = self { return uri }
        return nil
    }
}
