import Logging
import MapperCore
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// One connection to the store's database, made again when it was lost. Its users take turns
/// (``use(_:)`` is a FIFO lock held for one piece of work), so a transaction never interleaves
/// with another user's statements.
final class PostgresLink: Sendable {
    let location: PostgresLocation
    private let logger: Logger
    private let connection = Mutex<PostgresConnection?>(nil)
    private let turn = AsyncMutex()
    private static let ids = Atomic<Int>(0)

    init(location: PostgresLocation, logger: Logger) {
        self.location = location
        self.logger = logger
    }

    /// A link dropped with its connection open (a store that failed to open, or one abandoned
    /// without ``close()``) starts closing it; the connection lives until it has closed.
    deinit {
        if let open = connection.withLock({ $0 }), !open.isClosed {
            let closing: EventLoopFuture<Void> = open.close()
            // The connection must outlive its closing.
            closing.whenComplete { _ in withExtendedLifetime(open) {} }
        }
    }

    /// Runs `work` on the connection (connecting first if there is none or it closed), alone.
    func use<T: Sendable>(_ work: (PostgresConnection) async throws -> T) async throws -> T {
        await turn.lock()
        defer { turn.unlock() }
        let connection = try await current()
        return try await work(connection)
    }

    private func current() async throws -> PostgresConnection {
        if let open = connection.withLock({ $0 }), !open.isClosed { return open }
        do {
            let fresh = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: location.configuration,
                id: Self.ids.add(1, ordering: .relaxed).newValue, logger: logger)
            connection.withLock { $0 = fresh }
            return fresh
        } catch {
            throw MapperError(.EIO, "store \(location.description) unreachable: \(String(reflecting: error))")
        }
    }

    /// Closes the connection at once, without waiting for the user holding it (whose work
    /// then fails): a statement that hangs (the database host went silent) is given up.
    func abandon() {
        let open = connection.withLock { state -> PostgresConnection? in
            defer { state = nil }
            return state
        }
        if let open, !open.isClosed {
            let closing: EventLoopFuture<Void> = open.close()
            closing.whenComplete { _ in withExtendedLifetime(open) {} }
        }
    }

    /// Closes the connection (a later ``use(_:)`` connects again).
    func close() async {
        await turn.lock()
        defer { turn.unlock() }
        let open = connection.withLock { state -> PostgresConnection? in
            defer { state = nil }
            return state
        }
        try? await open?.close()
    }
}
