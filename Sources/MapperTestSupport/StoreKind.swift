/// Which store a test runs on: every store contract test runs on both, PostgreSQL when a test
/// server is there or can be started (``PostgresTestServer``).
public enum StoreKind: String, Sendable, CaseIterable {
    case sqlite, postgres

    public static var available: [StoreKind] { PostgresTestServer.available ? [.sqlite, .postgres] : [.sqlite] }
}
