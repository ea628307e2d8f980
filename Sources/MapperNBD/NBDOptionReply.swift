import NIOCore

/// Encodes fixed-newstyle option replies (`magic, option, type, length, data`).
enum NBDOptionReply {
    static func write(_ option: UInt32, _ type: UInt32, data: ByteBuffer? = nil, into out: inout ByteBuffer) {
        out.writeInteger(NBD.optionReplyMagic)
        out.writeInteger(option)
        out.writeInteger(type)
        out.writeInteger(UInt32(data?.readableBytes ?? 0))
        if var data { out.writeBuffer(&data) }
    }

    /// An error reply with a human-readable message (the spec allows a UTF-8 string).
    static func error(_ option: UInt32, _ type: UInt32, _ message: String, into out: inout ByteBuffer) {
        var data = ByteBuffer()
        data.writeString(String(message.prefix(NBD.maximumString)))
        write(option, type, data: data, into: &out)
    }

    /// The `NBD_REP_INFO` replies of `INFO`/`GO`: export, name, description, and the block
    /// sizes when `blockSize` (the client requested them).
    static func info(_ option: UInt32, _ export: NBDExport, blockSize: Bool, into out: inout ByteBuffer) {
        var data = ByteBuffer()
        data.writeInteger(NBD.infoExport)
        data.writeInteger(export.sizeBytes)
        data.writeInteger(export.transmissionFlags)
        write(option, NBD.repInfo, data: data, into: &out)

        data.clear()
        data.writeInteger(NBD.infoName)
        data.writeString(export.name)
        write(option, NBD.repInfo, data: data, into: &out)

        data.clear()
        data.writeInteger(NBD.infoDescription)
        data.writeString(String(export.description.prefix(NBD.maximumString)))
        write(option, NBD.repInfo, data: data, into: &out)

        guard blockSize else { return }
        data.clear()
        data.writeInteger(NBD.infoBlockSize)
        data.writeInteger(NBD.minimumBlockSize)
        data.writeInteger(NBD.preferredBlockSize)
        data.writeInteger(NBD.maximumPayload)
        write(option, NBD.repInfo, data: data, into: &out)
    }
}
