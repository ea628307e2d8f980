import MapperCore

extension MappedDevice {
    /// Submits `bio` and waits for it to end; returns its error (`nil` on success). For tests:
    /// the product's doors (NBD, HTTP) submit with an end-I/O receiver or a registry.
    public func perform(_ bio: Bio) async throws -> Errno? {
        try submit(bio)
        if let ended = bio.ended { return ended }
        return await bio.wait()
    }
}
