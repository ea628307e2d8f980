import ArgumentParser
import Foundation

/// Options every verb takes: where the server is, its token, and `--json`.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The server (env MAPPERD_URL).")
    var url: String = ProcessInfo.processInfo.environment["MAPPERD_URL"] ?? "http://127.0.0.1:7420"

    @Option(help: "File holding the bearer token (env MAPPERD_TOKEN gives the token itself).")
    var tokenFile: String?

    @Flag(help: "Print the API's JSON instead of dmsetup's format.")
    var json = false

    /// The token from `--token-file` (trimmed), else `MAPPERD_TOKEN`, else none.
    func token() throws -> String? {
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw LocalFailure(code: "ENOENT", detail: "cannot read token file '\(tokenFile)'")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ProcessInfo.processInfo.environment["MAPPERD_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The API's base URL: `--url` followed by `/v1`.
    func apiURL() throws -> URL {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        guard let parsed = URL(string: base + "/v1"), let scheme = parsed.scheme, scheme == "http" || scheme == "https",
            parsed.host != nil
        else {
            throw ValidationError("--url must be an http:// or https:// URL, not '\(url)'")
        }
        return parsed
    }
}
