/// A xorshift generator of 4 KiB-aligned offsets (cheap enough not to show in the figures).
struct RandomOffsets {
    private var state: UInt64
    private let blocks: UInt64

    init(seed: UInt64, blocks: UInt64) {
        self.state = seed | 1
        self.blocks = blocks
    }

    /// The next block number in `0..<blocks`.
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state % blocks
    }
}
