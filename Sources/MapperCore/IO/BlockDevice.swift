/// Anything a table line can map onto: a file backend, a path or another mapped device.
///
/// `submit` may complete the request before it returns (file backends do, so the hot path
/// needs no thread hop) or later from any thread (stalled or delayed paths, queued bios).
public protocol BlockDevice: AnyObject, Sendable {
    /// The name in the shared block-device namespace.
    var name: String { get }
    /// The size in sectors.
    var sizeSectors: UInt64 { get }
    /// Starts the I/O. The request's completion is called exactly once.
    func submit(_ request: BlockRequest)
    /// Starts the I/O of `clone` remapped to `sector` of this device: the same as
    /// `submit(clone.request(to: sector))` (the default), which a device that does its I/O
    /// inline (a file backend, a path in front of one) may do without building the request.
    /// The clone's I/O completion runs exactly once, as for a request.
    func submit(remapped clone: Clone, to sector: UInt64)
    /// Drops what the host caches of `sectors` sectors from `sector` and holds no unwritten
    /// data (a file backend's clean page-cache pages over that range): a hint for a range
    /// whose bytes are about to be replaced wholesale, such as a mirror leg that resync will
    /// write. Never loses a write (dirty pages stay and are written back as usual), and what is
    /// dropped is read from the file again when asked for; slow (it may start write-back), so
    /// never on an event loop. The default does nothing.
    func dropCachedPages(sector: UInt64, sectors: UInt64)
}

extension BlockDevice {
    public func submit(remapped clone: Clone, to sector: UInt64) {
        submit(clone.request(to: sector))
    }

    public func dropCachedPages(sector: UInt64, sectors: UInt64) {}
}

/// The kinds of object that share the block-device namespace.
public enum BlockNodeKind: String, Sendable {
    case backend, path, device
}

/// A named object in the shared namespace that tables can reference.
public protocol BlockNode: BlockDevice {
    var kind: BlockNodeKind { get }
    /// Who holds this node open through a table.
    var holders: Holders { get }
}
