import Foundation

/// `flakey <dev> <offset> <up_s> <down_s> [<#features> <features>...]` (dm-flakey): behaves
/// like linear for `up_s` seconds, then is unreliable for `down_s` seconds, repeating from
/// construction. While down, with no features every I/O fails with EIO; `drop_writes` drops
/// writes silently (reads pass), `error_writes` fails writes (reads pass), `error_reads`
/// fails reads (writes pass).
public final class FlakeyTarget: Target {
    public static let type = TargetType(name: "flakey", version: (1, 5, 0)) { context in
        var reader = ArgReader(context.args)
        let name = try reader.next("device")
        let offset = try reader.number("offset")
        let up = try reader.number("up interval", in: 0...UInt64(UInt32.max))
        let down = try reader.number("down interval", in: 0...UInt64(UInt32.max))
        guard up + down > 0 else { throw MapperError(.EINVAL, "up and down intervals are both 0") }
        var features: [String] = []
        if reader.remaining > 0 {
            let count = try reader.int("number of features", in: 0...3)
            for _ in 0..<count {
                let feature = try reader.next("feature")
                guard ["drop_writes", "error_writes", "error_reads"].contains(feature) else {
                    throw MapperError(.EINVAL, "unknown feature '\(feature)'")
                }
                features.append(feature)
            }
        }
        try reader.finish()
        let device = try context.getDevice(name, offset: offset, length: context.length)
        return FlakeyTarget(
            start: context.start, device: device, offset: offset, up: up, down: down, features: features)
    }

    let start: UInt64
    let device: any BlockNode
    let offset: UInt64
    let up: UInt64
    let down: UInt64
    let features: [String]
    let created = ContinuousClock.now

    init(start: UInt64, device: any BlockNode, offset: UInt64, up: UInt64, down: UInt64, features: [String]) {
        self.start = start
        self.device = device
        self.offset = offset
        self.up = up
        self.down = down
        self.features = features
    }

    var isDown: Bool {
        let elapsed = UInt64((ContinuousClock.now - created).components.seconds)
        return elapsed % (up + down) >= up
    }

    public func map(_ clone: Clone) -> MapResult {
        let request = clone.request(to: clone.op == .flush ? 0 : offset + (clone.sector - start))
        guard isDown else { return .remapped(device, request) }
        if features.isEmpty { return .error(.EIO) }
        if clone.op.isWrite {
            if features.contains("drop_writes") { return .completed }
            if features.contains("error_writes") { return .error(.EIO) }
        }
        if clone.op == .read && features.contains("error_reads") { return .error(.EIO) }
        return .remapped(device, request)
    }

    public func table() -> String {
        var text = "\(device.name) \(offset) \(up) \(down)"
        if !features.isEmpty { text += " \(features.count) " + features.joined(separator: " ") }
        return text
    }
}
