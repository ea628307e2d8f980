/// Why a verb failed, as mapperctl prints it on stderr:
/// `mapperctl: remove nosuch: ENOENT: no device named 'nosuch'` (exit status 1).
struct CommandFailure: Error {
    /// The verb and its positional arguments (`remove nosuch`).
    var label: String
    /// The problem's errno name, or `nil` for a failure without one (server unreachable).
    var code: String?
    var detail: String

    var message: String {
        [label, code, detail].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
    }
}

/// A problem+json answer from the server (its `code` and `detail`).
struct ServerProblem: Error {
    var status: Int
    var code: String
    var detail: String
}

/// A failure mapperctl itself found (bad input read from a file, an unexpected answer).
struct LocalFailure: Error {
    var code: String?
    var detail: String
}
