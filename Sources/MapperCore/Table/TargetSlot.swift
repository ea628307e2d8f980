/// One target of a table, boxed so that a clone can call it without a reference count: the
/// clone keeps the slot unmanaged (``CloneStorage``) and the core borrows it
/// (`_withUnsafeGuaranteedRef`); the target is a `let` of the borrowed slot, which the
/// compiler borrows too. (An existential read from an `unowned(unsafe)` field or an array is
/// retained and released around every call, and all CPUs share that count.) The table owns
/// its slots, and a clone never outlives the table it was split through (``DeviceIOGate``).
final class TargetSlot: Sendable {
    let target: any Target

    init(_ target: any Target) { self.target = target }
}
