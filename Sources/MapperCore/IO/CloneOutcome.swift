/// How one clone ended, as the core aggregates it (dm's `error` argument of `dec_pending`).
public enum CloneOutcome: Sendable, Equatable {
    case ok
    case error(Errno)
    /// dm's `DM_ENDIO_REQUEUE` / `DM_MAPIO_REQUEUE`: hand the whole original bio back to the
    /// core (pushback) if a noflush suspend is in progress, else fail it with EIO.
    case requeue

    /// How a remapped request's answer ends its clone: `nil` is ok, ``Errno/requeue`` (a
    /// stacked device handing the request back) a requeue, anything else that error.
    @inline(__always)
    init(_ error: Errno?) {
        guard let error else {
            self = .ok
            return
        }
        self = error == .requeue ? .requeue : .error(error)
    }

    /// Folds `next` into the bio's accumulated outcome (the precedence of `dec_pending`):
    /// requeue overrides any error; an error does not override a requeue while
    /// `noflushSuspending`; otherwise the last error wins; ok changes nothing.
    public func merging(_ next: CloneOutcome, noflushSuspending: Bool) -> CloneOutcome {
        switch (self, next) {
        case (_, .ok): return self
        case (_, .requeue): return .requeue
        case (.requeue, .error) where noflushSuspending: return .requeue
        case (_, .error): return next
        }
    }
}
