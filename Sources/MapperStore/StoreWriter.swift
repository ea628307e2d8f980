import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization

/// The store's single writer: a dedicated thread that drains queued work into one SQLite
/// transaction at a time (group commit). While one commit is being made durable, new work
/// piles up and goes into the next transaction together, so many bios from many requests
/// share one commit.
///
/// Each item runs in its own savepoint: a failing item is rolled back and reported to its
/// caller without failing the others. Completion callbacks run after the commit, on the
/// writer thread.
final class StoreWriter: Sendable {
    typealias Work = @Sendable (Database) throws -> Void
    typealias Done = @Sendable ((any Error)?) -> Void

    private struct Item {
        let work: Work
        let done: Done?
    }

    private struct State {
        var items: [Item] = []
        var stopping = false
        var commits = 0
        /// The writer thread is (about to be) blocked on `wakeUp`: only then does enqueue signal.
        var idle = false
    }

    private let pool: DatabasePool
    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let logger: Logger
    /// Runs after each commit on the writer thread (pruning); must not enqueue and wait.
    private let afterCommit: (@Sendable (Database, Int) -> Void)?

    init(pool: DatabasePool, logger: Logger, afterCommit: (@Sendable (Database, Int) -> Void)? = nil) {
        self.pool = pool
        self.logger = logger
        self.afterCommit = afterCommit
        let thread = Thread { [self] in self.run() }
        thread.name = "mapperd-store-writer"
        thread.start()
    }

    /// Queues work for the next transaction; `done` is called after its commit.
    func enqueue(_ work: @escaping Work, done: Done? = nil) {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.stopping else { return (false, false) }
            state.items.append(Item(work: work, done: done))
            defer { state.idle = false }
            return (true, state.idle)
        }
        if !accepted {
            done?(StoreError.closed)
        } else if wake {
            wakeUp.signal()
        }
    }

    /// Queues work and blocks the calling thread until it is committed; rethrows its error.
    /// For control operations only, never the I/O path.
    func perform(_ work: @escaping Work) throws {
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<(any Error)?>(nil)
        enqueue(work) { error in
            outcome.withLock { $0 = error }
            finished.signal()
        }
        finished.wait()
        if let error = outcome.withLock({ $0 }) { throw error }
    }

    /// Transactions committed so far.
    var commitCount: Int { state.withLock { $0.commits } }

    /// Commits what is queued, then stops the thread. Later work fails with ``StoreError/closed``.
    func stop() {
        let already = state.withLock { state -> Bool in
            defer { state.stopping = true }
            return state.stopping
        }
        guard !already else { return }
        wakeUp.signal()
        stopped.wait()
    }

    /// Takes the queued items, or marks the thread idle when there are none.
    private func take() -> (items: [Item], stopping: Bool) {
        state.withLock { state in
            if state.items.isEmpty && !state.stopping { state.idle = true }
            defer { state.items = [] }
            return (state.items, state.stopping)
        }
    }

    private func run() {
        var commitsSinceCheckpoint = 0
        while true {
            let (items, stopping) = take()
            if items.isEmpty && !stopping {
                if commitsSinceCheckpoint > 0 {
                    // Idle: fold the WAL back into the database (passive: never waits for
                    // readers), so a restart does not have to replay a large WAL.
                    checkpoint()
                    commitsSinceCheckpoint = 0
                    continue
                }
                wakeUp.wait()
                continue
            }
            commitsSinceCheckpoint += items.isEmpty ? 0 : 1
            if commitsSinceCheckpoint >= 256 {
                checkpoint()
                commitsSinceCheckpoint = 0
            }
            if !items.isEmpty { commit(items) }
            if stopping && state.withLock({ $0.items.isEmpty }) {
                stopped.signal()
                return
            }
        }
    }

    private func checkpoint() {
        do {
            try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        } catch {
            logger.debug("checkpoint skipped", metadata: ["error": "\(error)"])
        }
    }

    /// Runs every item in one transaction. If one fails, the transaction is rolled back and
    /// retried with each item in its own savepoint, so only the failing items fail.
    private func commit(_ items: [Item]) {
        var errors = [(any Error)?](repeating: nil, count: items.count)
        do {
            try pool.write { db in
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
            }
        } catch {
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
