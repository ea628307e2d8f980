import MapperCore
import MapperPostgres
import Testing

/// `--store` locations, as a table: what parses to which endpoint, and what is refused.
@Suite("PostgreSQL store locations")
struct PostgresLocationTests {
    @Test("URLs that name a server, user and database parse; the password never shows")
    func parses() throws {
        let rows: [(String, PostgresLocation.Endpoint, user: String, database: String)] = [
            ("postgres://mapperd@db.example:6543/state", .tcp(host: "db.example", port: 6543), "mapperd", "state"),
            ("postgresql://a:secret@127.0.0.1/x", .tcp(host: "127.0.0.1", port: 5432), "a", "x"),
            ("postgres://m@/s?host=/run/pg", .socket(path: "/run/pg/.s.PGSQL.5432"), "m", "s"),
            ("postgres://m@/s?host=/run/pg&port=6000", .socket(path: "/run/pg/.s.PGSQL.6000"), "m", "s"),
        ]
        for (text, endpoint, user, database) in rows {
            let location = try PostgresLocation(text)
            #expect(location.endpoint == endpoint, "\(text)")
            #expect(location.user == user && location.database == database, "\(text)")
            #expect(!location.description.contains("secret"), "\(text)")
        }
    }

    @Test("anything else is EINVAL saying what is missing")
    func refuses() {
        let rows: [(String, String)] = [
            ("sqlite:///x", "not a postgres:// URL"),
            ("postgres://db/state", "names no user"),
            ("postgres://m@db/", "names no database"),
            ("postgres://m@/s", "names no host"),
            ("postgres://m@/s?host=/run/pg&port=99999", "is not a port number"),
        ]
        for (text, reason) in rows {
            #expect(Comment(rawValue: text)) {
                _ = try PostgresLocation(text)
            } throws: { error in
                (error as? MapperError).map { $0.errno == .EINVAL && $0.message.contains(reason) } ?? false
            }
        }
    }
}
