/// What the listeners need to know about a host name as given on the command line.
public enum HostAddress {
    /// Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`): reachable
    /// only from this machine.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
