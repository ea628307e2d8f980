import Logging
import MapperCore
import MapperStore
import PostgresNIO
import Synchronization

/// The PostgreSQL store's single writer: queued work drains into one transaction at a time on
/// its own connection (group commit). While one commit is on its way to the server's disk,
/// new work piles up and goes into the next transaction together, as the SQLite store's
/// writer does.
///
/// Threading: ``enqueue(_:done:)`` only appends under a lock and wakes the writer's loop; no
/// caller waits for the database. The loop (``run()``, started by the store when it opens)
/// runs until ``stop()`` and has drained. Completion callbacks run after the commit, on the
/// loop's task; they must not block.
///
/// Round trips to the server bound a commit, so a transaction is opened (`BEGIN`, and the
/// fence's row locks for the devices of the work already waiting) *before* it takes the
/// queued work: the callers the last commit woke queue their next entries meanwhile, and the
/// transaction carries them too. Consecutive first entries of bios (``PostgresNewBio``) then
/// go in as one statement. If any statement fails, the transaction is rolled back and run
/// again with each item in a savepoint of its own: a failing item is rolled back and reported
/// to its caller without failing the others. A transaction that fails as a whole (the server
/// went away) fails every item in it with EIO; the next one connects again.
final class PostgresWriter: Sendable {
    typealias Work = @Sendable (PostgresConnection, Logger) async throws -> Void
    typealias Done = @Sendable ((any Error)?) -> Void

    private struct Item {
        let work: Work
        let done: Done?
        /// A bio's first entry as data: consecutive ones are inserted together.
        var newBio: PostgresNewBio? = nil
        /// A dequeue or an end as data: consecutive ones are applied together.
        var transition: PostgresBioTransition? = nil
        /// The device whose rows the work writes (checked by the fence), if any.
        var device: String? = nil
    }

    /// Runs first in every transaction that writes for devices, with their names; returns
    /// those this host may no longer write for (their items fail without running). It may
    /// lock rows until the commit.
    typealias Fence = @Sendable (Set<String>, PostgresConnection, Logger) async throws -> [String: MapperError]

    private struct State {
        var items: [Item] = []
        /// The loop is waiting for work.
        var idle: CheckedContinuation<Void, Never>?
        var stopping = false
        var stopped = false
        var held = false
        var commits = 0
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let link: PostgresLink
    private let state = Mutex(State())
    private let logger: Logger
    /// Runs inside each transaction after the items, with the number of commits so far.
    private let afterCommit: (@Sendable (PostgresConnection, Logger, Int) async -> Void)?
    private let fence: Fence?
    let statistics = StoreStatistics()

    init(
        link: PostgresLink, logger: Logger, fence: Fence? = nil,
        afterCommit: (@Sendable (PostgresConnection, Logger, Int) async -> Void)? = nil
    ) {
        self.link = link
        self.logger = logger
        self.fence = fence
        self.afterCommit = afterCommit
    }

    /// Queues work for the next transaction; `done` is called after its commit (with
    /// ``StoreError/closed`` once the writer has stopped). Work that writes a device's rows
    /// names the `device`, so the fence can refuse it.
    func enqueue(_ work: @escaping Work, device: String? = nil, done: Done? = nil) {
        enqueue(Item(work: work, done: done, device: device))
    }

    /// Queues work for a device's rows, without a completion.
    func enqueue(device: String, _ work: @escaping Work) {
        enqueue(Item(work: work, done: nil, device: device))
    }

    /// Queues a bio's first entry (its row and payload), to be inserted together with the
    /// other first entries next to it in the queue.
    func enqueue(newBio row: PostgresNewBio, done: Done?) {
        enqueue(
            Item(
                work: { db, logger in try await row.replace(db, logger: logger) }, done: done,
                newBio: row, device: row.device))
    }

    /// Queues a bio's dequeue or end (`work` is the same entry as one statement), to be
    /// applied together with the others next to it in the queue.
    func enqueue(transition: PostgresBioTransition, device: String, _ work: @escaping Work) {
        enqueue(Item(work: work, done: nil, transition: transition, device: device))
    }

    private func enqueue(_ item: Item) {
        let done = item.done
        let (accepted, wake) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.stopping else { return (false, nil) }
            state.items.append(item)
            guard !state.held else { return (true, nil) }
            defer { state.idle = nil }
            return (true, state.idle)
        }
        if !accepted { done?(StoreError.closed) }
        wake?.resume()
    }

    /// Queues work and returns once it is committed; rethrows its error.
    func perform(_ work: @escaping Work) async throws {
        let error = await withCheckedContinuation { (continuation: CheckedContinuation<(any Error)?, Never>) in
            enqueue(work) { continuation.resume(returning: $0) }
        }
        if let error { throw error }
    }

    var commitCount: Int { state.withLock { $0.commits } }

    /// Holds back every commit from now on (fault injection, as the SQLite writer's).
    func holdCommits() { state.withLock { $0.held = !$0.stopping } }

    /// Commits what was held back, and everything after it as usual.
    func releaseCommits() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.held = false
            guard !state.items.isEmpty else { return nil }
            defer { state.idle = nil }
            return state.idle
        }
        wake?.resume()
    }

    var hold: (held: Bool, waiting: Int) { state.withLock { ($0.held, $0.items.count) } }

    /// Commits what is queued (held-back work too), then stops the loop. Later work fails
    /// with ``StoreError/closed``.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (done, wake) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                state.stopping = true
                state.held = false
                if state.stopped { return (true, nil) }
                state.stopWaiters.append(continuation)
                defer { state.idle = nil }
                return (false, state.idle)
            }
            wake?.resume()
            if done { continuation.resume() }
        }
    }

    private enum Step {
        /// Work is waiting: open a transaction, then take it.
        case commit
        case wait
        case stop([CheckedContinuation<Void, Never>])
    }

    /// The loop: commits queued items until stopped and drained.
    func run() async {
        while true {
            let step = await withCheckedContinuation { (continuation: CheckedContinuation<Step, Never>) in
                let step = state.withLock { state -> Step in
                    if !state.items.isEmpty && !state.held { return .commit }
                    if state.stopping {
                        state.stopped = true
                        defer { state.stopWaiters = [] }
                        return .stop(state.stopWaiters)
                    }
                    return .wait
                }
                continuation.resume(returning: step)
            }
            switch step {
            case .commit:
                await commit()
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state -> Bool in
                        if (!state.items.isEmpty && !state.held) || state.stopping { return true }
                        state.idle = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            case .stop(let waiters):
                for waiter in waiters { waiter.resume() }
                return
            }
        }
    }

    /// The devices of the work waiting now.
    private var waitingDevices: Set<String> {
        state.withLock { state in Set(state.items.compactMap(\.device)) }
    }

    /// Takes the work waiting now (nothing while commits are held back).
    private func take() -> [Item] {
        state.withLock { state in
            guard !state.held else { return [] }
            defer { state.items = [] }
            return state.items
        }
    }

    /// Opens a transaction, takes the waiting work, and commits it: all items together, or,
    /// if a statement fails, again in a new transaction with each item in a savepoint of its
    /// own, so only the failing ones fail.
    private func commit() async {
        var items: [Item] = []
        var errors: [(any Error)?] = []
        // Items the fence refused.
        var fenced = Set<Int>()
        let started = ContinuousClock.now
        let logger = self.logger
        do {
            try await link.use { connection in
                try await connection.query("BEGIN", logger: logger)
                // The fence first, for the devices of the work already waiting: its row locks
                // hold off a claim until this commit ends. More work arrives meanwhile.
                var guarded = FencedDevices()
                try await guarded.check(waitingDevices, with: fence, connection, logger: logger)
                items = take()
                errors = [(any Error)?](repeating: nil, count: items.count)
                guard !items.isEmpty else {
                    try await connection.query("ROLLBACK", logger: logger)
                    return
                }
                try await guarded.check(Set(items.compactMap(\.device)), with: fence, connection, logger: logger)
                let runnable = items.indices.filter { index in
                    guard let device = items[index].device, let error = guarded.refused[device] else { return true }
                    errors[index] = error
                    fenced.insert(index)
                    return false
                }
                do {
                    try await Self.runGrouped(runnable.map { items[$0] }, connection, logger: logger)
                } catch {
                    try await connection.query("ROLLBACK", logger: logger)
                    try await connection.query("BEGIN", logger: logger)
                    var again = FencedDevices()
                    try await again.check(Set(items.compactMap(\.device)), with: fence, connection, logger: logger)
                    for index in runnable {
                        if let device = items[index].device, let error = again.refused[device] {
                            errors[index] = error
                            fenced.insert(index)
                            continue
                        }
                        try await connection.query("SAVEPOINT single", logger: logger)
                        do {
                            try await items[index].work(connection, logger)
                            try await connection.query("RELEASE SAVEPOINT single", logger: logger)
                        } catch {
                            errors[index] = error
                            try await connection.query("ROLLBACK TO SAVEPOINT single", logger: logger)
                        }
                    }
                }
                let commits = state.withLock { state -> Int in
                    state.commits += 1
                    return state.commits
                }
                await afterCommit?(connection, logger, commits)
                do {
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    // Not committed: the connection is of no more use (it is closed, and the
                    // next transaction connects again).
                    try? await connection.close()
                    throw error
                }
            }
            guard !items.isEmpty else { return }
            let elapsed = ContinuousClock.now - started
            let nanos = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            statistics.committed(items: items.count, nanos: UInt64(max(0, nanos)))
        } catch {
            statistics.failed()
            if items.isEmpty { items = take() }
            logger.error("store commit failed", metadata: ["error": "\(error)", "items": "\(items.count)"])
            let failure = (error as? MapperError) ?? MapperError(.EIO, "store commit failed: \(error)")
            errors = [(any Error)?](repeating: failure, count: items.count)
            fenced = []
            await link.close()
        }
        for (index, (item, error)) in zip(items, errors).enumerated() {
            if let done = item.done {
                done(error)
            } else if let error {
                // Refused by the fence: the device is another host's now, which was logged once.
                let level: Logger.Level = fenced.contains(index) ? .debug : .error
                logger.log(level: level, "store write failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Runs `items` in order; a run of first entries goes in as one statement (which fails if
    /// one of them was journaled before: then each item runs alone), a run of dequeues and
    /// ends as two (``PostgresBioTransition``).
    private static func runGrouped(_ items: [Item], _ connection: PostgresConnection, logger: Logger) async throws {
        var position = 0
        while position < items.count {
            var end = position
            while end < items.count, items[end].newBio != nil { end += 1 }
            if end > position {
                try await PostgresNewBio.insert(
                    items[position..<end].compactMap(\.newBio)[...], connection, logger: logger)
                position = end
                continue
            }
            while end < items.count, items[end].transition != nil { end += 1 }
            if end - position > 1 {
                try await PostgresBioTransition.apply(
                    items[position..<end].compactMap(\.transition), connection, logger: logger)
                position = end
            } else {
                try await items[position].work(connection, logger)
                position += 1
            }
        }
    }
}
