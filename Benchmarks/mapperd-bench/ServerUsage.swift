import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a server used over one run: CPU time (user and system) and context switches
/// (voluntary and involuntary), over all of its threads.
struct ServerUsage {
    var cpuSeconds: Double
    var contextSwitches: Int

    init(_ usage: rusage) {
        cpuSeconds =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
        contextSwitches = usage.ru_nvcsw + usage.ru_nivcsw
    }

    init(cpuSeconds: Double, contextSwitches: Int) {
        self.cpuSeconds = cpuSeconds
        self.contextSwitches = contextSwitches
    }

    /// This process so far (the NBD server the bench runs in-process; fio is a child).
    static var thisProcess: ServerUsage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return ServerUsage(usage)
    }

    static func - (after: ServerUsage, before: ServerUsage) -> ServerUsage {
        ServerUsage(
            cpuSeconds: after.cpuSeconds - before.cpuSeconds,
            contextSwitches: after.contextSwitches - before.contextSwitches)
    }
}
