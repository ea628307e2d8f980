import Testing

@testable import MapperCore

/// The run of data blocks a pool knows to read as zeroes, as a table of steps: what each call
/// answers and what the pool knows after it.
@Suite("thin zeroed blocks")
struct ThinZeroedBlocksTests {
    enum Step {
        case allocate(UInt64, ThinZeroedBlocks.Answer)
        /// The data device's answer for `block`, asked under `generation`: `zeroBlocks` from it.
        case learn(block: UInt64, zeroBlocks: UInt64, generation: UInt64)
        case end
        case reset
    }

    static func run(_ steps: [(Step, known: Range<UInt64>)], sourceLocation: SourceLocation = #_sourceLocation) {
        var blocks = ThinZeroedBlocks()
        for (index, (step, known)) in steps.enumerated() {
            switch step {
            case .allocate(let block, let answer):
                let got = blocks.allocated(block)
                #expect(got == answer, "step \(index)", sourceLocation: sourceLocation)
            case .learn(let block, let zeroBlocks, let generation):
                blocks.learned(block: block, zeroBlocks: zeroBlocks, generation: generation)
            case .end:
                blocks.provisionEnded()
            case .reset:
                blocks.reset()
            }
            // An empty run is an empty run, whatever its bounds.
            #expect(
                blocks.known == known || (blocks.known.isEmpty && known.isEmpty), "step \(index)",
                sourceLocation: sourceLocation)
        }
    }

    @Test("one answer serves the first writes up to the next data; blocks leave the run as they are allocated")
    func sequential() {
        Self.run([
            (.allocate(0, .ask(generation: 1)), 0..<0),
            (.learn(block: 0, zeroBlocks: 4, generation: 1), 1..<4),
            (.end, 1..<4),
            (.allocate(1, .zeroes), 2..<4),
            (.end, 2..<4),
            (.allocate(2, .zeroes), 3..<4),
            (.end, 3..<4),
            (.allocate(3, .zeroes), 3..<3),
            (.end, 3..<3),
            // Past the run: asked again; block 4 holds data, so nothing is learned.
            (.allocate(4, .ask(generation: 9)), 3..<3),
            (.learn(block: 4, zeroBlocks: 0, generation: 9), 3..<3),
            (.end, 3..<3),
        ])
    }

    @Test("a block allocated inside the run takes the blocks below it out too")
    func allocationInside() {
        Self.run([
            (.allocate(10, .ask(generation: 1)), 0..<0),
            (.learn(block: 10, zeroBlocks: 100, generation: 1), 11..<110),
            (.end, 11..<110),
            (.allocate(50, .zeroes), 51..<110),
            (.end, 51..<110),
            // Below the run (a block freed earlier): asked, and the run is kept.
            (.allocate(20, .ask(generation: 5)), 51..<110),
        ])
    }

    @Test("an answer is not taken when another provisioning was in flight, or one ended or began since the question")
    func staleAnswers() {
        Self.run([
            // Two in flight: block 0's answer could miss block 1's write landing after it.
            (.allocate(1, .ask(generation: 1)), 0..<0),
            (.allocate(0, .ask(generation: 2)), 0..<0),
            (.learn(block: 0, zeroBlocks: 8, generation: 2), 0..<0),
            (.end, 0..<0),
            // Block 1's question was asked before block 0's provisioning ended.
            (.learn(block: 1, zeroBlocks: 8, generation: 1), 0..<0),
            (.end, 0..<0),
            // Alone, but a reset since the question (the pool was bound to a new line).
            (.allocate(2, .ask(generation: 5)), 0..<0),
            (.reset, 0..<0),
            (.learn(block: 2, zeroBlocks: 8, generation: 5), 0..<0),
            (.end, 0..<0),
            // Alone and current: taken.
            (.allocate(3, .ask(generation: 8)), 0..<0),
            (.learn(block: 3, zeroBlocks: 8, generation: 8), 4..<11),
            (.reset, 0..<0),
        ])
    }
}
