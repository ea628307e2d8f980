/// Bookkeeping of one ``WaiterList`` wait: its id once registered, whether the task was
/// cancelled first, and its timeout timer.
struct WaitBox {
    var id: UInt64?
    var cancelled = false
    var timer: Task<Void, Never>?
}
