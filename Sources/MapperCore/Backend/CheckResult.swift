import Foundation

/// The outcome of one path check (``Path/check(timeout:)``).
public struct CheckResult: Sendable, Equatable {
    /// `nil` when the check passed; else why it failed (ETIMEDOUT when it ran out of time).
    public var error: Errno?
    /// When the check ended.
    public var at: Date
    /// How long it took.
    public var duration: Duration

    public var passed: Bool { error == nil }
}
