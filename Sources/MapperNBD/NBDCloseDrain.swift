import MapperCore
import Synchronization

/// What a closing connection waits for: its bios to end or be durably queued, and its
/// read-modify-write tasks to finish, each until one deadline. Nothing is cancelled: what
/// has not settled by then is left to the engine.
enum NBDCloseDrain {
    /// Waits until everything settled or `deadline` passed; returns whether everything
    /// settled.
    static func settle(bios: [Bio], tasks: [Task<Void, Never>], until deadline: ContinuousClock.Instant) async
        -> Bool
    {
        var settled = true
        for bio in bios {
            let done = await bio.waitUntilEndedOrDurablyQueued(deadline: deadline)
            settled = settled && done
        }
        for task in tasks {
            let done = await wait(for: task, until: deadline)
            settled = settled && done
        }
        return settled
    }

    /// Waits for `task` until `deadline`; returns whether it finished.
    private static func wait(for task: Task<Void, Never>, until deadline: ContinuousClock.Instant) async -> Bool {
        let first = FirstResume()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            first.set(continuation)
            Task {
                await task.value
                first.resume(returning: true)
            }
            Task {
                try? await Task.sleep(until: deadline)
                first.resume(returning: false)
            }
        }
    }

    /// A continuation that the first of several callers resumes.
    private final class FirstResume: Sendable {
        private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

        func set(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation.withLock { $0 = continuation } }

        func resume(returning value: Bool) { continuation.withLock { $0.take() }?.resume(returning: value) }
    }
}
