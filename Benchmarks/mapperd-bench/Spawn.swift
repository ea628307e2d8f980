import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program with `posix_spawn` and `waitpid`, its standard output to a file (or
/// nowhere). Used where a program daemonises (nbdkit), which Foundation's `Process` does
/// not always notice exiting.
enum Spawn {
    /// Runs `path` with `arguments`; returns the exit status and what it printed.
    /// With `wait: false`, returns at once with the pid in place of the status.
    static func run(
        _ path: String, _ arguments: [String], capture: Bool = true, wait: Bool = true
    ) throws -> (Int32, String) {
        let (status, output, _) = try measured(path, arguments, capture: capture, wait: wait)
        return (status, output)
    }

    /// ``run(_:_:capture:wait:)``, also returning what the child used (`wait4`; zero with
    /// `wait: false`).
    static func measured(
        _ path: String, _ arguments: [String], capture: Bool = true, wait: Bool = true
    ) throws -> (Int32, String, rusage) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(
            &actions, 1, capture ? output.path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // The calling thread (a dispatch worker) blocks most signals, and a child inherits the
        // mask: a daemon started with it would never see SIGTERM. Start it with an empty mask
        // and default dispositions.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw MapperBenchError("cannot start \(path): errno \(spawned)") }
        if !wait { return (pid, "", rusage()) }
        let (exit, usage) = reap(pid)
        let text = capture ? ((try? String(contentsOf: output, encoding: .utf8)) ?? "") : ""
        return (exit, text, usage)
    }

    /// Starts `path` with `arguments` (output to nowhere) and returns its pid without waiting.
    static func start(_ path: String, _ arguments: [String]) throws -> pid_t {
        try run(path, arguments, capture: false, wait: false).0
    }

    /// Waits for child `pid` to exit; returns its exit status and what it used (its own
    /// threads, dead ones included; `wait4`).
    static func reap(_ pid: pid_t) -> (Int32, rusage) {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), usage)
    }
}

/// A benchmark set-up failure.
struct MapperBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
