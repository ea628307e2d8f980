import Testing

@testable import MapperCore

/// Random inputs to a ``RegionHash``, carried out by a model of the mirror and its log, with
/// the rules that keep mirrors consistent checked after every step:
/// - a write goes to every mirror only while the log durably says its region is dirty, and no
///   clean mark of a region reaches the log while a write to it is in flight;
/// - a region not in sync is dirty in the log;
/// - a copy starts only when no write to its region is in flight, and no write is issued to
///   a region being copied;
/// - every write is in exactly one place: held, in flight, or ended;
/// - a two-step clean pass marks clean no region written or copied after it began.
@Suite("Region hash, random sequences")
struct RegionHashRandomTests {
    typealias Hash = RegionHash<Int>
    typealias Generator = DeviceStateMachineRandomTests.Generator

    struct Model {
        var hash: Hash
        /// The log as it is durably: a region's dirty bit.
        var logDirty: [Bool]
        /// The flush asked for and not reported: its generation and marks.
        var flush: (generation: UInt64, dirty: [Int], clean: [Int])?
        /// Writes issued and not ended: id → (region, to all mirrors).
        var inFlight: [Int: (region: Int, all: Bool)] = [:]
        var copying: Set<Int> = []
        var ended = 0
        var submitted = 0
        var regionOf: [Int: Int] = [:]
        /// A two-step clean pass begun and not ended, and the regions written or copied since
        /// it began.
        var pass: Hash.CleanPass?
        var touchedSincePass: Set<Int> = []

        init(regions: Int, inSync: [Bool]) {
            hash = Hash(regionCount: regions) { inSync[$0] }
            logDirty = inSync.map { !$0 }
        }

        mutating func carryOut(_ actions: [Hash.Action]) {
            for action in actions {
                switch action {
                case .writeAll(let id):
                    guard let region = regionOf[id] else {
                        Issue.record("write \(id) was never submitted")
                        continue
                    }
                    #expect(
                        logDirty[region], "write \(id) to all mirrors of region \(region) before the log says dirty")
                    #expect(!copying.contains(region), "write \(id) issued to region \(region) while it is copied")
                    inFlight[id] = (region, true)
                case .writeDefault(let id):
                    guard let region = regionOf[id] else {
                        Issue.record("write \(id) was never submitted")
                        continue
                    }
                    #expect(!copying.contains(region), "write \(id) issued to region \(region) while it is copied")
                    inFlight[id] = (region, false)
                case .failWrite:
                    ended += 1
                case .flushLog(let generation, let dirty, let clean):
                    #expect(flush == nil, "a second flush asked for while one is in flight")
                    flush = (generation, dirty, clean)
                case .copy(let region):
                    #expect(
                        !inFlight.values.contains { $0.region == region },
                        "copy of region \(region) with writes in flight")
                    #expect(copying.insert(region).inserted, "region \(region) copied twice at once")
                }
            }
        }

        func check(_ context: String) {
            for region in 0..<hash.regionCount where hash.state(region) == .nosync || hash.state(region) == .recovering
            {
                #expect(logDirty[region], "region \(region) not in sync but clean in the log (\(context))")
            }
            #expect(
                submitted == ended + inFlight.count + hash.heldWrites,
                "writes lost or doubled: \(submitted) submitted, \(ended) ended, \(inFlight.count) in flight, \(hash.heldWrites) held (\(context))"
            )
        }
    }

    @Test("random writes, flushes, copies and failures keep the mirrors' rules", arguments: 0..<40)
    func randomSequences(seed: UInt64) {
        var random = Generator(state: seed)
        let regions = Int.random(in: 2...6, using: &random)
        var model = Model(regions: regions, inSync: (0..<regions).map { _ in Bool.random(using: &random) })
        var nextWrite = 0
        for step in 0..<500 {
            let choice = Int.random(in: 0..<100, using: &random)
            let context = "seed \(seed), step \(step)"
            switch choice {
            case 0..<35:
                let region = Int.random(in: 0..<regions, using: &random)
                nextWrite += 1
                model.regionOf[nextWrite] = region
                model.submitted += 1
                model.touchedSincePass.insert(region)
                // Half the writes come as the mirror sends them: to the default mirror without
                // a token when the region is not in sync (``RegionHash/writeIfNotInSync(region:)``).
                if Bool.random(using: &random), model.hash.writeIfNotInSync(region: region) {
                    model.carryOut([.writeDefault(nextWrite)])
                } else {
                    model.carryOut(model.hash.write(nextWrite, region: region))
                }
            case 35..<60:
                guard let (id, write) = model.inFlight.randomElement(using: &random) else { continue }
                model.inFlight[id] = nil
                model.ended += 1
                let failedOnSome = write.all && Int.random(in: 0..<10, using: &random) == 0
                model.carryOut(model.hash.writeEnded(region: write.region, failedOnSome: failedOnSome))
            case 60..<75:
                guard let flush = model.flush else { continue }
                model.flush = nil
                if Int.random(in: 0..<10, using: &random) == 0 {
                    model.carryOut(model.hash.logFlushFailed(generation: flush.generation))
                } else {
                    for region in flush.clean {
                        #expect(
                            !model.inFlight.values.contains { $0.region == region },
                            "region \(region) marked clean in the log with a write in flight (\(context))")
                        model.logDirty[region] = false
                    }
                    for region in flush.dirty { model.logDirty[region] = true }
                    model.carryOut(model.hash.logFlushed(generation: flush.generation))
                }
            case 75..<85:
                if let actions = model.hash.startRecovery() { model.carryOut(actions) }
            case 85..<93:
                guard let region = model.copying.randomElement(using: &random) else { continue }
                model.copying.remove(region)
                model.touchedSincePass.insert(region)
                model.carryOut(
                    model.hash.copyEnded(region: region, success: Int.random(in: 0..<5, using: &random) != 0))
            default:
                if let pass = model.pass, Bool.random(using: &random) {
                    // The legs' flush ended: only regions nothing reached since it began are
                    // marked clean.
                    model.pass = nil
                    let before = (0..<regions).map { model.hash.state($0) }
                    model.carryOut(model.hash.endCleanPass(pass))
                    for region in pass.regions where before[region] != .clean && model.hash.state(region) == .clean {
                        #expect(
                            !model.touchedSincePass.contains(region),
                            "region \(region) marked clean though written or copied during the pass (\(context))")
                    }
                } else if model.pass == nil && Bool.random(using: &random) {
                    model.pass = model.hash.beginCleanPass()
                    model.touchedSincePass = []
                } else if model.pass == nil {
                    model.carryOut(model.hash.flushClean())
                }
            }
            model.check(context)
        }
    }
}
