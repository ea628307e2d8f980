/// What a target's `map` tells the core to do with a clone (dm's `DM_MAPIO_*`).
public enum MapResult: Sendable {
    /// Send the request to `device` (`DM_MAPIO_REMAPPED`); the core submits it and calls the
    /// target's `endIO` when it completes.
    case remapped(any BlockDevice, BlockRequest)
    /// The target took the clone and will re-issue or end it later (`DM_MAPIO_SUBMITTED`).
    /// A target may also submit the remapped request itself and answer this, as dm targets
    /// that issue their own I/O do: the core then has nothing to do, and the device it was
    /// sent to is not copied into the result (no reference count written on the hot path:
    /// linear and multipath do this). `endIO` is still called when the request completes.
    case submitted
    /// Hand the clone back to the core (`DM_MAPIO_REQUEUE`): pushback under a noflush suspend,
    /// EIO otherwise.
    case requeue
    /// End the clone with this error now; `endIO` is not called.
    case error(Errno)
    /// The target completed the clone itself (zero target); `endIO` is not called.
    case completed
}

/// What a target's `endIO` tells the core (dm's `DM_ENDIO_*`).
public enum EndIOResult: Sendable {
    /// Keep the I/O's own result (dm's `0`).
    case done
    /// End the clone with this error instead.
    case error(Errno)
    /// Hand the clone back to the core (`DM_ENDIO_REQUEUE`).
    case requeue
    /// The target kept the clone, to retry or queue it (`DM_ENDIO_INCOMPLETE`).
    case incomplete
}
