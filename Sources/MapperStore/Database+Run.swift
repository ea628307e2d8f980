import GRDB

extension Database {
    /// Executes `sql` through the connection's statement cache (parsed once, reused).
    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
