/// A device-mapper target: the behaviour behind one table line (dm's `struct target_type`).
///
/// The core creates one instance per table line when the table is loaded (the constructor,
/// ``TargetType/construct``) and calls ``destroy()`` when the table is dropped. Hooks other
/// than ``map(_:)`` have default no-op bodies.
///
/// Threading: `map` and `endIO` are called concurrently from any thread, never under the
/// device's lock; the suspend hooks are called serially from the device's control path.
public protocol Target: AnyObject, Sendable {
    /// dm's `split_io`: when set, the core never lets a clone cross a multiple of this many
    /// sectors counted from the target's start.
    var maxIOSectors: UInt64? { get }

    /// Maps a clone (dm's `map`). See ``MapResult`` for what each answer makes the core do.
    func map(_ clone: Clone) -> MapResult

    /// Called when a remapped clone's I/O finished, with its error (dm's `end_io`).
    /// Default: ``EndIOResult/done``.
    func endIO(_ clone: Clone, error: Errno?) -> EndIOResult

    /// Whether the core must call ``endIO(_:error:)`` (dm: a `target_type` whose `end_io` is
    /// set). Default `true`; a target whose `endIO` is the default may say `false`, and the
    /// core then ends its clones with the I/O's own result without the call.
    var hasEndIO: Bool { get }

    /// Called first during suspend, after `noflushSuspending` is set and before I/O is blocked.
    func presuspend()

    /// A device whose table maps onto this target's device started a noflush suspend: a
    /// target that queues I/O hands back what it holds for that device (its clones end with
    /// a requeue, which reaches the upper device as ``Errno/requeue``), so that the upper
    /// suspend does not wait on I/O held below it. Not called for this device's own suspend.
    func holderNoflushSuspending()
    /// Called right after ``presuspend()`` (in a suspend and in a forced removal): returns once
    /// the I/O the target issues of its own accord, which the core does not count as pending
    /// (a mirror's resync copy), has stopped. dm-raid1's presuspend sleeps for this. Default:
    /// returns at once.
    func presuspendWait() async
    /// Called when a suspend completed, after all pending I/O ended.
    func postsuspend()
    /// Called on every activation of the target's table before ``resume()`` and before any bio
    /// reaches the table: at each resume, and at start-up when a persisted device comes back
    /// active (when ``resume()`` is not called). Returns once the target can take I/O (a
    /// mirror's disk log has been read). dm's `preresume`, which may sleep; a failure is the
    /// target's to report in its status (dm-raid1 carries on with a failed log). Default:
    /// returns at once.
    func preresume() async
    /// Called on resume before the deferred list is re-issued.
    func resume()
    /// The INFO status line (dm's `STATUSTYPE_INFO`).
    func status() -> String
    /// The constructor arguments, normalised (dm's `STATUSTYPE_TABLE`).
    func table() -> String
    /// Handles a message (dm's `message`); throws EINVAL for unknown messages.
    func message(_ argv: [String]) throws -> String
    /// Called when the table holding the target is dropped (dm's `dtr`). Must end any clone
    /// the target still holds (with EIO).
    func destroy()
    /// Run-time state that must survive a restart (multipath's live and saved
    /// `queue_if_no_path`), or `nil`. Targets call ``TargetContext/persistState()`` when it
    /// changes.
    var persistentState: [String: String]? { get }
    /// Restores state saved from ``persistentState`` (start-up, after the table is live).
    func restore(_ state: [String: String])
    /// The allocation of device sectors `sector..<sector+sectors` (inside this target), for
    /// NBD's `base:allocation`; `nil` when the target does not know (reported as data).
    /// Called from any thread, never under the device's lock. Default: `nil`.
    func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent]?
}

extension Target {
    public var maxIOSectors: UInt64? { nil }
    public func endIO(_ clone: Clone, error: Errno?) -> EndIOResult { .done }
    public var hasEndIO: Bool { true }
    public func presuspend() {}
    public func holderNoflushSuspending() {}
    public func presuspendWait() async {}
    public func preresume() async {}
    public func postsuspend() {}
    public func resume() {}
    public func status() -> String { "" }
    public func message(_ argv: [String]) throws -> String {
        throw MapperError(.EINVAL, "target takes no messages")
    }
    public func destroy() {}
    public var persistentState: [String: String]? { nil }
    public func restore(_ state: [String: String]) {}
    public func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent]? { nil }
}
