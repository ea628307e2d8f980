import MapperCore
import MapperTestSupport
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import MapperNBD

/// The decoder alone (every split of the input, through `ByteToMessageDecoderVerifier`) and
/// the whole connection over an `EmbeddedChannel` against a real engine.
@Suite("NBD channel")
struct NBDChannelTests {
    @Test("requests decode identically however the bytes are split, write payloads included")
    func decoderSplits() throws {
        let payload = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var input = NBDWire.request(NBD.cmdRead, handle: 7, offset: 4096, length: 512)
        var write = NBDWire.request(
            NBD.cmdWrite, handle: 8, offset: 0, length: 1024, flags: NBD.cmdFlagFUA, payload: payload)
        input.writeBuffer(&write)
        var flush = NBDWire.request(NBD.cmdFlush, handle: 9)
        input.writeBuffer(&flush)
        let expected: [NBDClientMessage] = [
            .request(NBDRequest(flags: 0, type: NBD.cmdRead, handle: 7, offset: 4096, length: 512)),
            .request(
                NBDRequest(
                    flags: NBD.cmdFlagFUA, type: NBD.cmdWrite, handle: 8, offset: 0, length: 1024,
                    payload: IOBuffer(copying: payload))),
            .request(NBDRequest(flags: 0, type: NBD.cmdFlush, handle: 9, offset: 0, length: 0)),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, expected)], decoderFactory: { NBDFrameDecoder(phase: .transmission) })
    }

    @Test("options decode however split; long options are discarded and reported")
    func decoderOptions() throws {
        var input = NBDWire.option(NBD.optList)
        var data = ByteBuffer()
        data.writeString("0123456789")
        var unknown = NBDWire.option(77, data)
        input.writeBuffer(&unknown)
        var long = NBDWire.option(NBD.optInfo, ByteBuffer(repeating: 1, count: 100))
        input.writeBuffer(&long)
        let expected: [NBDClientMessage] = [
            .option(code: NBD.optList, data: ByteBuffer()), .option(code: 77, data: data),
            .optionTooLong(code: NBD.optInfo, length: 100),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, expected)],
            decoderFactory: { NBDFrameDecoder(phase: .options, maximumOptionLength: 64) })
    }

    @Test("the client flags come first, then options; after GO the decoder waits for the handler")
    func decoderPhases() throws {
        let decoder = NBDFrameDecoder()
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
        var input = ByteBuffer()
        input.writeInteger(UInt32(3))
        var go = NBDWire.option(NBD.optGo, NBDWire.infoData("d"))
        input.writeBuffer(&go)
        var read = NBDWire.request(NBD.cmdRead, handle: 5, length: 512)
        input.writeBuffer(&read)
        try channel.writeInbound(input)
        #expect(try channel.readInbound(as: NBDClientMessage.self) == .clientFlags(3))
        #expect(
            try channel.readInbound(as: NBDClientMessage.self) == .option(code: NBD.optGo, data: NBDWire.infoData("d")))
        #expect(try channel.readInbound(as: NBDClientMessage.self) == nil)
        #expect(decoder.phase == .waiting)
        decoder.beginTransmission()
        try channel.writeInbound(ByteBuffer())
        #expect(
            try channel.readInbound(as: NBDClientMessage.self)
                == .request(NBDRequest(flags: 0, type: NBD.cmdRead, handle: 5, offset: 0, length: 512)))
    }

    @Test("an option without IHAVEOPT is a protocol error that ends the connection")
    func badOptionMagic() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(NBDFrameDecoder(phase: .options)))
        var bad = ByteBuffer()
        bad.writeInteger(UInt64(0x1234))
        bad.writeInteger(NBD.optList)
        bad.writeInteger(UInt32(0))
        #expect(throws: NBDProtocolError.badOptionMagic(0x1234)) { try channel.writeInbound(bad) }
    }

    @Test("a write over the payload limit is read past, so the next request still decodes")
    func oversizedWriteSkipped() throws {
        var input = NBDWire.request(NBD.cmdWrite, handle: 1, length: 2048, payload: Array(repeating: 9, count: 2048))
        var read = NBDWire.request(NBD.cmdRead, handle: 2, length: 512)
        input.writeBuffer(&read)
        let expected: [NBDClientMessage] = [
            .request(
                NBDRequest(flags: 0, type: NBD.cmdWrite, handle: 1, offset: 0, length: 2048, payloadDiscarded: true)),
            .request(NBDRequest(flags: 0, type: NBD.cmdRead, handle: 2, offset: 0, length: 512)),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, expected)],
            decoderFactory: { NBDFrameDecoder(phase: .transmission, maximumPayload: 1024) })
    }

    // MARK: The whole connection

    /// An engine with a 1 MiB backend, paths p1/p2, device `lin` (linear) and device `half`:
    /// its first 1024 sectors multipath with queue_if_no_path over p1, the rest linear.
    final class Rig: @unchecked Sendable {
        let fixture: EngineFixture
        /// Thread-safe, unlike an `EmbeddedChannel`: flushes and discards end on the engine's
        /// thread pool and hop back to the connection's loop.
        let channel = NIOAsyncTestingChannel()
        let decoder = NBDFrameDecoder()

        init() async throws {
            fixture = try EngineFixture()
            try await fixture.backend("disk", sectors: 2048)
            try await fixture.manager.createPath(name: "p1", backend: "disk")
            try await fixture.manager.createDevice(name: "lin", table: TableParser.parse("0 2048 linear disk 0"))
            try await fixture.manager.createDevice(
                name: "half",
                table: TableParser.parse(
                    "0 1024 multipath 1 queue_if_no_path 0 1 1 round-robin 0 1 1 p1 1\n1024 1024 linear disk 1024"))
            let handler = NBDConnectionHandler(
                decoder: decoder, exports: DeviceExports(manager: fixture.manager),
                stats: NBDConnectionStats(id: 1, client: "test"), limits: .init(), tlsRequired: false, onTLS: nil,
                logger: .init(label: "test"))
            try await channel.pipeline.addHandler(handler).get()
            try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get()
        }

        func send(_ buffer: ByteBuffer) async throws { try await channel.writeInbound(buffer) }

        /// What the server wrote next: waits for its first write, then takes every write
        /// already made, as one buffer. Fails after 10 s without a write (a server that never
        /// answers fails the test instead of hanging it).
        func received() async throws -> ByteBuffer {
            let channel = self.channel
            let first = try await withDeadline(.now + .seconds(10)) {
                try await channel.waitForOutboundWrite(as: ByteBuffer.self)
            }
            var all = try #require(first, "no reply within 10 s")
            while var part = try await channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&part) }
            return all
        }

        /// Greeting, flags, optional structured replies and meta context, GO `export` (asking
        /// for the block sizes, so bound to 512-byte alignment, unless `blockSizes` is false).
        func handshake(_ export: String, structured: Bool = false, blockSizes: Bool = true) async throws {
            var greeting = try await received()
            #expect(greeting.readInteger(as: UInt64.self) == NBD.initMagic)
            var flags = ByteBuffer()
            flags.writeInteger(NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes)
            try await send(flags)
            if structured {
                try await send(NBDWire.option(NBD.optStructuredReply))
                try await send(
                    NBDWire.option(NBD.optSetMetaContext, NBDWire.metaData(export, queries: ["base:allocation"])))
            }
            try await send(
                NBDWire.option(NBD.optGo, NBDWire.infoData(export, requests: blockSizes ? [NBD.infoBlockSize] : [])))
            var replies = try await received()
            #expect(NBDWire.optionReplies(&replies).last?.type == NBD.repAck)
            #expect(decoder.phase == .transmission)
        }
    }

    @Test("GO, write, read back, flush and DISC over the real engine; the connection holds the device open")
    func transmission() async throws {
        let rig = try await Rig()
        try await rig.handshake("lin")
        let device = try rig.fixture.manager.device(named: "lin")
        #expect(device.info.openCount == 1)
        let payload = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        // The request arrives one byte at a time.
        let write = NBDWire.request(NBD.cmdWrite, handle: 0xAA, offset: 8192, length: 4096, payload: payload)
        for byte in write.readableBytesView { try await rig.send(ByteBuffer(bytes: [byte])) }
        var reply = try await rig.received()
        #expect(NBDWire.simpleReply(&reply) == .init(error: 0, handle: 0xAA))
        #expect(try rig.fixture.fileBytes("disk", offset: 8192, count: 4096) == payload)

        try await rig.send(NBDWire.request(NBD.cmdRead, handle: 0xBB, offset: 8192, length: 4096))
        var read = try await rig.received()
        #expect(NBDWire.simpleReply(&read) == .init(error: 0, handle: 0xBB))
        #expect(read.readBytes(length: 4096) == payload)

        try await rig.send(NBDWire.request(NBD.cmdFlush, handle: 0xCC))
        var flushed = try await rig.received()
        #expect(NBDWire.simpleReply(&flushed) == .init(error: 0, handle: 0xCC))

        try await rig.send(
            NBDWire.request(
                NBD.cmdWrite, handle: 0xDD, offset: 1 << 20, length: 512, payload: Array(repeating: 0, count: 512)))
        var beyond = try await rig.received()
        #expect(NBDWire.simpleReply(&beyond) == .init(error: NBD.ENOSPC, handle: 0xDD))

        try await rig.send(NBDWire.request(NBD.cmdDisc, handle: 0))
        await rig.channel.testingEventLoop.run()
        #expect(!rig.channel.isActive)
        #expect(device.info.openCount == 0)
    }

    @Test("bytes as a client pipelines them: flags, GO and requests in one buffer; a request cut mid-header")
    func pipelined() async throws {
        let rig = try await Rig()
        _ = try await rig.received()  // the greeting
        let payload = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 29) }
        var all = ByteBuffer()
        all.writeInteger(NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes)
        var go = NBDWire.option(NBD.optGo, NBDWire.infoData("lin", requests: [NBD.infoBlockSize]))
        all.writeBuffer(&go)
        var write = NBDWire.request(NBD.cmdWrite, handle: 1, offset: 4096, length: 1024, payload: payload)
        all.writeBuffer(&write)
        var read = NBDWire.request(NBD.cmdRead, handle: 2, offset: 4096, length: 1024)
        all.writeBuffer(&read)
        var flush = NBDWire.request(NBD.cmdFlush, handle: 3)
        all.writeBuffer(&flush)
        // First buffer: everything up to the middle of the flush's header.
        let cut = all.readableBytes - 17
        try await rig.send(all.getSlice(at: all.readerIndex, length: cut)!)
        var replies = try await rig.received()
        // GO's replies (INFO, INFO, ACK), read one by one: the requests' replies follow them.
        var types: [UInt32] = []
        while types.last != NBD.repAck,
            replies.getInteger(at: replies.readerIndex, as: UInt64.self) == NBD.optionReplyMagic
        {
            replies.moveReaderIndex(forwardBy: 12)
            let type = replies.readInteger(as: UInt32.self)
            let length = replies.readInteger(as: UInt32.self)
            types.append(try #require(type))
            replies.moveReaderIndex(forwardBy: Int(try #require(length)))
        }
        #expect(types.count >= 2 && types.dropLast().allSatisfy { $0 == NBD.repInfo } && types.last == NBD.repAck)
        #expect(rig.decoder.phase == .transmission)
        if replies.readableBytes == 0 { replies = try await rig.received() }
        #expect(NBDWire.simpleReply(&replies) == .init(error: 0, handle: 1))
        if replies.readableBytes == 0 { replies = try await rig.received() }
        #expect(NBDWire.simpleReply(&replies) == .init(error: 0, handle: 2))
        #expect(replies.readBytes(length: 1024) == payload)
        // The rest of the flush, and a whole read after it, in the second buffer. The flush
        // (an fsync, off the loop) may be answered after the read.
        var rest = all.getSlice(at: all.readerIndex + cut, length: 17)!
        var again = NBDWire.request(NBD.cmdRead, handle: 4, offset: 4096, length: 512)
        rest.writeBuffer(&again)
        try await rig.send(rest)
        var answered: [UInt64: UInt32] = [:]
        var last = ByteBuffer()
        while answered.count < 2 {
            if last.readableBytes == 0 { last = try await rig.received() }
            let reply = try #require(NBDWire.simpleReply(&last))
            answered[reply.handle] = reply.error
            if reply.handle == 4 { #expect(last.readBytes(length: 512) == Array(payload[0..<512])) }
        }
        #expect(answered == [3: 0, 4: 0])
    }

    @Test("structured replies: reads as OFFSET_DATA, errors as ERROR chunks, block status for a zero target")
    func structured() async throws {
        let rig = try await Rig()
        try await rig.fixture.manager.createDevice(
            name: "z", table: TableParser.parse("0 64 zero\n64 64 linear disk 0"))
        try await rig.handshake("z", structured: true)
        try await rig.send(NBDWire.request(NBD.cmdRead, handle: 1, offset: 0, length: 1024))
        var read = try await rig.received()
        let chunk = try #require(NBDWire.chunk(&read))
        #expect(chunk.type == NBD.replyTypeOffsetData && chunk.flags == NBD.replyFlagDone && chunk.handle == 1)
        var data = chunk.payload
        #expect(data.readInteger(as: UInt64.self) == 0)
        #expect(data.readBytes(length: 1024) == Array(repeating: 0, count: 1024))

        try await rig.send(NBDWire.request(NBD.cmdRead, handle: 2, offset: 100, length: 512))
        var error = try await rig.received()
        let failed = try #require(NBDWire.chunk(&error))
        #expect(failed.type == NBD.replyTypeError)
        var errorPayload = failed.payload
        #expect(errorPayload.readInteger(as: UInt32.self) == NBD.EINVAL)

        try await rig.send(NBDWire.request(NBD.cmdBlockStatus, handle: 3, offset: 0, length: 128 << 9))
        var status = try await rig.received()
        let extents = try #require(NBDWire.chunk(&status))
        #expect(extents.type == NBD.replyTypeBlockStatus)
        var descriptors = extents.payload
        #expect(descriptors.readInteger(as: UInt32.self) == NBDNegotiation.baseAllocationID)
        // The zero target and the untouched (sparse) backend under the linear part are one hole.
        #expect(descriptors.readInteger(as: UInt32.self) == 128 << 9)
        #expect(descriptors.readInteger(as: UInt32.self) == NBD.stateHole | NBD.stateZero)
        #expect(descriptors.readableBytes == 0)

        try await rig.send(
            NBDWire.request(
                NBD.cmdWrite, handle: 4, offset: 64 << 9, length: 4096, payload: Array(repeating: 1, count: 4096)))
        _ = try await rig.received()
        try await rig.send(NBDWire.request(NBD.cmdBlockStatus, handle: 5, offset: 0, length: 128 << 9))
        var after = try await rig.received()
        var mixed = try #require(NBDWire.chunk(&after)).payload
        #expect(mixed.readInteger(as: UInt32.self) == NBDNegotiation.baseAllocationID)
        #expect(mixed.readInteger(as: UInt32.self) == 64 << 9)
        #expect(mixed.readInteger(as: UInt32.self) == NBD.stateHole | NBD.stateZero)
        #expect(mixed.readInteger(as: UInt32.self).map { $0 >= 4096 } == true)
        #expect(mixed.readInteger(as: UInt32.self) == 0)
    }

    @Test("replies go out of order: a held request does not hold back a later one; it completes when the path returns")
    func outOfOrder() async throws {
        let rig = try await Rig()
        try await rig.handshake("half")
        let path = try rig.fixture.manager.path(named: "p1")
        path.fail()
        let payload = Array(repeating: UInt8(0x5A), count: 512)
        try await rig.send(NBDWire.request(NBD.cmdWrite, handle: 1, offset: 0, length: 512, payload: payload))
        try await rig.send(NBDWire.request(NBD.cmdRead, handle: 2, offset: 1024 << 9, length: 512))
        var first = try await rig.received()
        #expect(NBDWire.simpleReply(&first) == .init(error: 0, handle: 2))
        #expect(try rig.fixture.manager.device(named: "half").info.io.queued == 1)
        path.reinstate()
        await rig.channel.testingEventLoop.run()
        var second = try await rig.received()
        #expect(NBDWire.simpleReply(&second) == .init(error: 0, handle: 1))
        #expect(try rig.fixture.fileBytes("disk", offset: 0, count: 512) == payload)
    }

    @Test("a rename keeps the connected client on its device; removal is refused while it is open")
    func renameKeepsClient() async throws {
        let rig = try await Rig()
        try await rig.handshake("lin")
        try await rig.fixture.manager.renameDevice(named: "lin", to: "renamed")
        try await rig.send(
            NBDWire.request(
                NBD.cmdWrite, handle: 1, offset: 0, length: 512, payload: Array(repeating: 0x11, count: 512)))
        var reply = try await rig.received()
        #expect(NBDWire.simpleReply(&reply) == .init(error: 0, handle: 1))
        #expect(try rig.fixture.fileBytes("disk", offset: 0, count: 512) == Array(repeating: 0x11, count: 512))
        await #expect(throws: MapperError.self) { try await rig.fixture.manager.removeDevice(named: "renamed") }
        try await rig.fixture.manager.removeDevice(named: "renamed", force: true)
        await rig.channel.testingEventLoop.run()
        #expect(!rig.channel.isActive)
    }

    @Test("a bad request magic drops the connection")
    func badMagic() async throws {
        let rig = try await Rig()
        try await rig.handshake("lin")
        try? await rig.send(NBDWire.request(NBD.cmdRead, handle: 1, length: 512, magic: 0xDEAD_BEEF))
        await rig.channel.testingEventLoop.run()
        #expect(!rig.channel.isActive)
    }

    @Test("unknown commands and FAST_ZERO get errors; trim, zeroes and cache succeed")
    func commands() async throws {
        let rig = try await Rig()
        try await rig.handshake("lin")
        let cases: [(ByteBuffer, UInt32)] = [
            (NBDWire.request(42, handle: 1, length: 512), NBD.EINVAL),
            (NBDWire.request(NBD.cmdWriteZeroes, handle: 2, length: 4096, flags: NBD.cmdFlagFastZero), NBD.ENOTSUP),
            (NBDWire.request(NBD.cmdWriteZeroes, handle: 3, length: 768 << 10, flags: NBD.cmdFlagNoHole), 0),
            (NBDWire.request(NBD.cmdWriteZeroes, handle: 4, offset: 4096, length: 4096, flags: NBD.cmdFlagFUA), 0),
            (NBDWire.request(NBD.cmdTrim, handle: 5, offset: 8192, length: 4096), 0),
            (NBDWire.request(NBD.cmdCache, handle: 6, length: 4096), 0),
            (NBDWire.request(NBD.cmdBlockStatus, handle: 7, length: 4096), NBD.EINVAL),
        ]
        for (index, (request, error)) in cases.enumerated() {
            try await rig.send(request)
            var reply = try await rig.received()
            #expect(NBDWire.simpleReply(&reply) == .init(error: error, handle: UInt64(index + 1)), "case \(index + 1)")
        }
    }
}
