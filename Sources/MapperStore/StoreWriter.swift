import Foundation
import GRDB
import Logging
import MapperCore
import Synchronization

/// The store's single writer, on GRDB's own serial writer: queued work drains into one SQLite
/// transaction at a time (group commit). While one commit is being made durable, new work
/// piles up and goes into the next transaction together, so many bios from many requests
/// share one commit.
///
/// Threading: ``enqueue(_:done:)`` only appends under a lock and, when the writer is idle,
/// schedules a drain with `asyncWriteWithoutTransaction`; no caller's thread ever waits for
/// SQLite. The drain (and every fsync) runs on GRDB's writer queue, which only this type uses
/// after the migrations. ``perform(_:)`` and ``stop()`` await without blocking a thread.
///
/// Each item runs in its own savepoint when the group fails: a failing item is rolled back
/// and reported to its caller without failing the others. Completion callbacks run after the
/// commit, on the writer queue; they must not block.
final class StoreWriter: Sendable {
    typealias Work = @Sendable (Database) throws -> Void
    typealias Done = @Sendable ((any Error)?) -> Void

    private struct Item {
        let work: Work
        let done: Done?
    }

    private struct State {
        var items: [Item] = []
        /// A drain is scheduled or running on GRDB's writer queue.
        var draining = false
        var stopping = false
        /// Commits are held back (``holdCommits()``): work piles up uncommitted.
        var held = false
        var commits = 0
        var commitsSinceCheckpoint = 0
        /// ``stop()`` callers waiting for the last drain.
        var stopWaiters = WaiterList<Void>()
    }

    private let pool: DatabasePool
    private let state = Mutex(State())
    private let logger: Logger
    /// Runs after each commit on the writer queue (pruning); must not enqueue and wait.
    private let afterCommit: (@Sendable (Database, Int) -> Void)?
    /// Commits, items per commit and commit latency.
    let statistics = StoreStatistics()

    init(pool: DatabasePool, logger: Logger, afterCommit: (@Sendable (Database, Int) -> Void)? = nil) {
        self.pool = pool
        self.logger = logger
        self.afterCommit = afterCommit
    }

    /// Queues work for the next transaction; `done` is called after its commit (with
    /// ``StoreError/closed`` once the writer has stopped).
    func enqueue(_ work: @escaping Work, done: Done? = nil) {
        let (accepted, schedule) = state.withLock { state -> (Bool, Bool) in
            guard !state.stopping else { return (false, false) }
            state.items.append(Item(work: work, done: done))
            guard !state.held, !state.draining else { return (true, false) }
            state.draining = true
            return (true, true)
        }
        if !accepted {
            done?(StoreError.closed)
        } else if schedule {
            pool.asyncWriteWithoutTransaction { [self] db in drain(db) }
        }
    }

    /// Queues work and returns once it is committed; rethrows its error.
    func perform(_ work: @escaping Work) async throws {
        let error = await withCheckedContinuation { (continuation: CheckedContinuation<(any Error)?, Never>) in
            enqueue(work) { continuation.resume(returning: $0) }
        }
        if let error { throw error }
    }

    /// Transactions committed so far.
    var commitCount: Int { state.withLock { $0.commits } }

    /// Holds back every commit from now on: queued work stays uncommitted (and its callers
    /// unacknowledged) until ``releaseCommits()``, as on a disk that takes that long. A commit
    /// already under way finishes. For fault injection: it shows what a client is told while
    /// a commit is pending, and what a `kill -9` in that window loses.
    func holdCommits() { state.withLock { $0.held = !$0.stopping } }

    /// Commits what was held back, and everything after it as usual.
    func releaseCommits() {
        let schedule = state.withLock { state -> Bool in
            state.held = false
            guard !state.items.isEmpty, !state.draining, !state.stopping else { return false }
            state.draining = true
            return true
        }
        if schedule { pool.asyncWriteWithoutTransaction { [self] db in drain(db) } }
    }

    /// Whether commits are held back, and how many items wait for a commit.
    var hold: (held: Bool, waiting: Int) { state.withLock { ($0.held, $0.items.count) } }

    /// Commits what is queued (held-back work too), then stops. Later work fails with
    /// ``StoreError/closed``.
    func stop() async {
        let schedule = state.withLock { state -> Bool in
            state.stopping = true
            state.held = false
            guard !state.items.isEmpty, !state.draining else { return false }
            state.draining = true
            return true
        }
        if schedule { pool.asyncWriteWithoutTransaction { [self] db in drain(db) } }
        _ = await WaiterList<Void>.wait(
            deadline: nil, cancellable: false,
            register: { continuation in
                state.withLock { state -> WaiterList<Void>.Registration in
                    state.stopping = true
                    if !state.draining { return .ready(()) }
                    return state.stopWaiters.add(continuation)
                }
            },
            take: { [self] id in self.state.withLock { $0.stopWaiters.remove(id) } })
    }

    /// What the drain does next.
    private enum Step {
        case commit([Item])
        case checkpoint
        case idle([WaiterList<Void>.Continuation])
    }

    /// Commits queued items until none are left; folds the WAL back into the database when
    /// idle (passive: never waits for readers), so a restart does not replay a large WAL.
    private func drain(_ db: Database) {
        while true {
            let step = state.withLock { state -> Step in
                if !state.items.isEmpty && !state.held {
                    defer { state.items = [] }
                    return .commit(state.items)
                }
                if state.commitsSinceCheckpoint > 0 && !state.stopping {
                    state.commitsSinceCheckpoint = 0
                    return .checkpoint
                }
                state.draining = false
                return .idle(state.stopping ? state.stopWaiters.takeAll() : [])
            }
            switch step {
            case .commit(let items):
                commit(items, db)
                let due = state.withLock { state -> Bool in
                    state.commitsSinceCheckpoint += 1
                    guard state.commitsSinceCheckpoint >= 256 else { return false }
                    state.commitsSinceCheckpoint = 0
                    return true
                }
                if due { checkpoint(db) }
            case .checkpoint:
                checkpoint(db)
            case .idle(let stopWaiters):
                stopWaiters.resumeAll(returning: ())
                return
            }
        }
    }

    private func checkpoint(_ db: Database) {
        do {
            _ = try db.checkpoint(.passive)
        } catch {
            logger.debug("checkpoint skipped", metadata: ["error": "\(error)"])
        }
    }

    /// Runs every item in one transaction. If one fails, the transaction is rolled back and
    /// retried with each item in its own savepoint, so only the failing items fail.
    private func commit(_ items: [Item], _ db: Database) {
        var errors = [(any Error)?](repeating: nil, count: items.count)
        let started = ContinuousClock.now
        do {
            try db.inTransaction {
                do {
                    try db.inSavepoint {
                        for item in items { try item.work(db) }
                        return .commit
                    }
                } catch {
                    for (index, item) in items.enumerated() {
                        do {
                            try db.inSavepoint {
                                try item.work(db)
                                return .commit
                            }
                        } catch {
                            errors[index] = error
                        }
                    }
                }
                let commits = state.withLock { state -> Int in
                    state.commits += 1
                    return state.commits
                }
                afterCommit?(db, commits)
                return .commit
            }
            let elapsed = ContinuousClock.now - started
            let nanos = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            statistics.committed(items: items.count, nanos: UInt64(max(0, nanos)))
        } catch {
            statistics.failed()
            logger.error("store commit failed", metadata: ["error": "\(error)", "items": "\(items.count)"])
            errors = [(any Error)?](repeating: error, count: items.count)
        }
        for (item, error) in zip(items, errors) {
            if let done = item.done {
                done(error)
            } else if let error {
                logger.error("store write failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
