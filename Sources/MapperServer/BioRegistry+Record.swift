import MapperCore
import Synchronization

extension BioRegistry {
    /// One registered bio: its device, the bio until it ends, and only its summary after. It is
    /// the bio's end-I/O receiver, so the registry learns of the end without a look-up.
    ///
    /// Threading: ``attach(_:)`` runs once, before the bio is submitted or published; the end
    /// comes on any thread, readers on any other; all of them go through the record's lock.
    final class Record: BlockIOCompletion, Sendable {
        let device: MappedDevice
        private let state = Mutex<State>(.unattached)

        private enum State {
            case unattached
            case live(Bio)
            case ended(BioSummary)
        }

        /// Whether the bio has ended, and with which idempotency key (an ended record's key may
        /// be freed).
        enum Phase {
            case live
            case ended(idempotencyKey: String?)
        }

        init(device: MappedDevice) { self.device = device }

        /// Gives the record its bio; once, before anyone else can see either.
        func attach(_ bio: Bio) { state.withLock { $0 = .live(bio) } }

        /// The bio ended: keep its summary, let go of the bio (and so of its payload).
        func endIO(_ error: Errno?) {
            state.withLock { state in
                guard case .live(let bio) = state else { return }
                state = .ended(BioSummary(bio))
            }
        }

        var phase: Phase {
            state.withLock { state in
                switch state {
                case .unattached, .live: .live
                case .ended(let summary): .ended(idempotencyKey: summary.idempotencyKey)
                }
            }
        }

        /// The bio, while it has not ended.
        var bio: Bio? {
            state.withLock { state in
                guard case .live(let bio) = state else { return nil }
                return bio
            }
        }

        /// The bio as it is now, or as it ended.
        var summary: BioSummary? {
            state.withLock { state in
                switch state {
                case .unattached: nil
                case .live(let bio): BioSummary(bio)
                case .ended(let summary): summary
                }
            }
        }

        var idempotencyKey: String? {
            state.withLock { state in
                switch state {
                case .unattached: nil
                case .live(let bio): bio.idempotencyKey
                case .ended(let summary): summary.idempotencyKey
                }
            }
        }

        /// What a second request with the same key reports.
        var registered: Registered? {
            state.withLock { state in
                switch state {
                case .unattached: nil
                case .live(let bio): .live(bio)
                case .ended(let summary): .ended(summary)
                }
            }
        }
    }
}
