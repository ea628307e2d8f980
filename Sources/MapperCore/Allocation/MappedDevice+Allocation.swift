extension MappedDevice: AllocationReporting {
    /// Asks each live target covering the range (``Target/allocation(sector:sectors:limit:)``);
    /// targets that do not know report data. Without a live table everything is data.
    public func allocation(sector: UInt64, sectors: UInt64, limit: Int) -> [AllocationExtent] {
        guard let table = liveTable, sectors > 0 else { return [.data(sectors)] }
        var extents: [AllocationExtent] = []
        var current = sector
        let end = min(sector + sectors, table.sizeSectors)
        var index = table.targetIndex(for: current)
        while current < end && extents.count < limit && index < table.targets.count {
            let pieceEnd = min(end, table.end(of: index))
            let length = pieceEnd - current
            let known =
                table.slots[index].target.allocation(
                    sector: current, sectors: length, limit: limit - extents.count) ?? [.data(length)]
            var covered: UInt64 = 0
            for extent in known where covered < length {
                let clipped = min(extent.sectors, length - covered)
                extents.appendMerging(AllocationExtent(sectors: clipped, hole: extent.hole, zero: extent.zero))
                covered += clipped
            }
            // A target that answered short stops the walk there (the caller asks again).
            guard covered == length else { break }
            current = pieceEnd
            index += 1
        }
        if extents.isEmpty { extents.append(.data(sectors)) }
        return extents
    }
}
