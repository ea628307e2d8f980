import Dispatch

/// `delay <dev> <offset> <ms> [<write_dev> <write_offset> <write_ms>]` (dm-delay): each I/O is
/// held for the delay, then remapped. Waiting uses a timer, never a blocked thread.
public final class DelayTarget: Target {
    public static let type = TargetType(name: "delay", version: (1, 2, 1)) { context in
        var reader = ArgReader(context.args)
        let read = try Leg.parse(&reader, context: context, what: "")
        var write = read
        if reader.remaining > 0 { write = try Leg.parse(&reader, context: context, what: "write ") }
        try reader.finish()
        return DelayTarget(start: context.start, read: read, write: write, hasWriteLeg: context.args.count > 3)
    }

    struct Leg {
        let device: any BlockNode
        let offset: UInt64
        let milliseconds: Int

        static func parse(_ reader: inout ArgReader, context: TargetContext, what: String) throws -> Leg {
            let name = try reader.next("\(what)device")
            let offset = try reader.number("\(what)offset")
            let ms = try reader.int("\(what)delay", in: 0...600_000)
            return Leg(
                device: try context.getDevice(name, offset: offset, length: context.length), offset: offset,
                milliseconds: ms)
        }
    }

    let start: UInt64
    let read: Leg
    let write: Leg
    let hasWriteLeg: Bool

    init(start: UInt64, read: Leg, write: Leg, hasWriteLeg: Bool) {
        self.start = start
        self.read = read
        self.write = write
        self.hasWriteLeg = hasWriteLeg
    }

    public func map(_ clone: Clone) -> MapResult {
        let leg = clone.op == .read ? read : write
        let request = clone.request(to: clone.op == .flush ? 0 : leg.offset + (clone.sector - start))
        if leg.milliseconds == 0 { return .remapped(leg.device, request) }
        let device = leg.device
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(leg.milliseconds)) {
            device.submit(request)
        }
        return .submitted
    }

    public func table() -> String {
        var text = "\(read.device.name) \(read.offset) \(read.milliseconds)"
        if hasWriteLeg { text += " \(write.device.name) \(write.offset) \(write.milliseconds)" }
        return text
    }
}
