import MapperCore
import NIOCore

@testable import MapperNBD

/// Builders for what a client sends, and readers for what the server answers.
enum NBDWire {
    static func option(_ code: UInt32, _ data: ByteBuffer = ByteBuffer()) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeInteger(NBD.optionMagic)
        out.writeInteger(code)
        out.writeInteger(UInt32(data.readableBytes))
        var data = data
        out.writeBuffer(&data)
        return out
    }

    /// `INFO`/`GO` data: name, then the information requests.
    static func infoData(_ name: String, requests: [UInt16] = []) -> ByteBuffer {
        var data = ByteBuffer()
        data.writeInteger(UInt32(name.utf8.count))
        data.writeString(name)
        data.writeInteger(UInt16(requests.count))
        for request in requests { data.writeInteger(request) }
        return data
    }

    static func metaData(_ name: String, queries: [String]) -> ByteBuffer {
        var data = ByteBuffer()
        data.writeInteger(UInt32(name.utf8.count))
        data.writeString(name)
        data.writeInteger(UInt32(queries.count))
        for query in queries {
            data.writeInteger(UInt32(query.utf8.count))
            data.writeString(query)
        }
        return data
    }

    static func request(
        _ type: UInt16, handle: UInt64, offset: UInt64 = 0, length: UInt32 = 0, flags: UInt16 = 0,
        payload: [UInt8] = [], magic: UInt32 = NBD.requestMagic
    ) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeInteger(magic)
        out.writeInteger(flags)
        out.writeInteger(type)
        out.writeInteger(handle)
        out.writeInteger(offset)
        out.writeInteger(length)
        out.writeBytes(payload)
        return out
    }

    struct OptionReply: Equatable {
        var option: UInt32
        var type: UInt32
        var data: ByteBuffer
    }

    /// Reads every option reply in `buffer`.
    static func optionReplies(_ buffer: inout ByteBuffer) -> [OptionReply] {
        var replies: [OptionReply] = []
        while buffer.readableBytes >= 20 {
            guard buffer.readInteger(as: UInt64.self) == NBD.optionReplyMagic,
                let option = buffer.readInteger(as: UInt32.self), let type = buffer.readInteger(as: UInt32.self),
                let length = buffer.readInteger(as: UInt32.self), let data = buffer.readSlice(length: Int(length))
            else { break }
            replies.append(OptionReply(option: option, type: type, data: data))
        }
        return replies
    }

    struct SimpleReply: Equatable {
        var error: UInt32
        var handle: UInt64
    }

    static func simpleReply(_ buffer: inout ByteBuffer) -> SimpleReply? {
        guard buffer.readInteger(as: UInt32.self) == NBD.simpleReplyMagic,
            let error = buffer.readInteger(as: UInt32.self), let handle = buffer.readInteger(as: UInt64.self)
        else { return nil }
        return SimpleReply(error: error, handle: handle)
    }

    struct Chunk: Equatable {
        var flags: UInt16
        var type: UInt16
        var handle: UInt64
        var payload: ByteBuffer
    }

    static func chunk(_ buffer: inout ByteBuffer) -> Chunk? {
        guard buffer.readInteger(as: UInt32.self) == NBD.structuredReplyMagic,
            let flags = buffer.readInteger(as: UInt16.self), let type = buffer.readInteger(as: UInt16.self),
            let handle = buffer.readInteger(as: UInt64.self), let length = buffer.readInteger(as: UInt32.self),
            let payload = buffer.readSlice(length: Int(length))
        else { return nil }
        return Chunk(flags: flags, type: type, handle: handle, payload: payload)
    }
}

/// A fixed catalog for negotiation tests.
struct FixedCatalog: NBDExportCatalog {
    var entries: [NBDExport] = [
        NBDExport(name: "disk", description: "a disk", sizeBytes: 1 << 20, readOnly: false),
        NBDExport(name: "ro", description: "read-only", sizeBytes: 4096, readOnly: true),
    ]
    var defaultName: String?

    func export(named name: String) -> NBDExport? {
        entries.first { $0.name == (name.isEmpty ? defaultName ?? "" : name) }
    }

    func exports() -> [NBDExport] { entries }
}
