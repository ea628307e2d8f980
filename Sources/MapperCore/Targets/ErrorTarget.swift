/// `error`: every I/O fails with EIO (dm-error).
public final class ErrorTarget: Target {
    public static let type = TargetType(name: "error", version: (1, 5, 0)) { context in
        try ArgReader(context.args).finish()
        return ErrorTarget()
    }

    public func map(_ clone: Clone) -> MapResult { .error(.EIO) }

    public func table() -> String { "" }
}
