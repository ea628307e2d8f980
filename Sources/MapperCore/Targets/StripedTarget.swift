/// `striped <#stripes> <chunk_sectors> (<dev> <offset>){#stripes}` (dm-stripe).
///
/// The target's length must divide by the stripe count and each stripe's length by the chunk
/// size. Chunks of any size ≥ 1 are accepted (current dm; 2.6.20 wanted a power of two).
/// Clones never cross a chunk (dm's `split_io`).
public final class StripedTarget: Target {
    public static let type = TargetType(name: "striped", version: (1, 6, 0)) { context in
        var reader = ArgReader(context.args)
        let stripes = try reader.number("number of stripes", in: 1...1024)
        let chunk = try reader.number("chunk size", in: 1...UInt64(UInt32.max))
        guard context.length % stripes == 0 else {
            throw MapperError(.EINVAL, "target length \(context.length) is not divisible by \(stripes) stripes")
        }
        let width = context.length / stripes
        guard width % chunk == 0 else {
            throw MapperError(.EINVAL, "stripe length \(width) is not divisible by chunk size \(chunk)")
        }
        guard reader.remaining == Int(stripes) * 2 else {
            throw MapperError(.EINVAL, "expected \(stripes) device/offset pairs, got \(reader.remaining) arguments")
        }
        var legs: [(any BlockNode, UInt64)] = []
        for index in 0..<Int(stripes) {
            let name = try reader.next("device of stripe \(index)")
            let offset = try reader.number("offset of stripe \(index)")
            legs.append((try context.getDevice(name, offset: offset, length: width), offset))
        }
        return StripedTarget(start: context.start, chunk: chunk, legs: legs)
    }

    let start: UInt64
    let chunk: UInt64
    let legs: [(device: any BlockNode, offset: UInt64)]

    init(start: UInt64, chunk: UInt64, legs: [(any BlockNode, UInt64)]) {
        self.start = start
        self.chunk = chunk
        self.legs = legs.map { (device: $0.0, offset: $0.1) }
    }

    public var maxIOSectors: UInt64? { chunk }

    /// dm-stripe's `end_io` only counts path errors for its status; here it has none.
    public var hasEndIO: Bool { false }

    public func map(_ clone: Clone) -> MapResult {
        if clone.op == .flush {
            // A flush goes down every leg (dm sends num_flush_bios = #stripes); the clone ends
            // when all of them have (FlushGroup).
            return flushAll(clone)
        }
        let offset = clone.sector - start
        let chunkNumber = offset / chunk
        let stripe = Int(chunkNumber % UInt64(legs.count))
        let chunkInStripe = chunkNumber / UInt64(legs.count)
        let leg = legs[stripe]
        return .remapped(leg.device, clone.request(to: leg.offset + chunkInStripe * chunk + offset % chunk))
    }

    private func flushAll(_ clone: Clone) -> MapResult {
        let group = FlushGroup(clone: clone, count: legs.count)
        for leg in legs {
            leg.device.submit(
                BlockRequest(op: .flush, sector: 0, sectors: 0, buffer: nil, bufferOffset: 0, completion: group))
        }
        return .submitted
    }

    public func table() -> String {
        "\(legs.count) \(chunk) " + legs.map { "\($0.device.name) \($0.offset)" }.joined(separator: " ")
    }

    public func status() -> String {
        "\(legs.count) " + legs.map(\.device.name).joined(separator: " ") + " "
            + String(repeating: "A", count: legs.count)
    }
}
