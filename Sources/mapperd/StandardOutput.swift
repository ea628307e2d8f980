#if canImport(Glibc)
    import Glibc
#endif

/// Writes command output (not log lines) to standard output.
enum StandardOutput {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(1, base + done, bytes.count - done)
                if n <= 0 { return }
                done += n
            }
        }
    }
}
