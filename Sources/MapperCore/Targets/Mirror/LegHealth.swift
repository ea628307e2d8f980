/// What went wrong on one mirror leg, as dm-raid1 records it (`error_type`) and shows it in
/// the status line (`device_status_char`). Recorded whether or not the table handles errors;
/// only `handle_errors` also stops using the leg.
struct LegHealth: Sendable, Equatable {
    enum Failure: UInt8, Sendable {
        case write = 1, sync = 2, read = 4, flush = 8
    }

    private(set) var failures: UInt8 = 0

    mutating func record(_ failure: Failure) { failures |= failure.rawValue }

    func has(_ failure: Failure) -> Bool { failures & failure.rawValue != 0 }

    /// `A` (alive), else the first of `F` (flush), `D` (write: dead), `S` (sync), `R` (read).
    var character: Character {
        if failures == 0 { return "A" }
        if has(.flush) { return "F" }
        if has(.write) { return "D" }
        if has(.sync) { return "S" }
        if has(.read) { return "R" }
        return "U"
    }
}
