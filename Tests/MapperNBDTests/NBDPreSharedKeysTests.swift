import Testing

@testable import MapperNBD

/// psktool's file format.
@Suite("NBD pre-shared keys")
struct NBDPreSharedKeysTests {
    @Test("identity:hexkey lines parse; blank lines are skipped")
    func parses() throws {
        let keys = try NBDPreSharedKeys(parsing: "alice:00ff10\n\nbob:ABCD\n")
        #expect(keys.keys == ["alice": [0x00, 0xff, 0x10], "bob": [0xab, 0xcd]])
    }

    @Test(
        "bad lines are errors naming the line",
        arguments: ["alice", ":00", "alice:0", "alice:zz", "alice:", ""])
    func rejects(_ text: String) {
        #expect(throws: NBDConfigurationError.self) { try NBDPreSharedKeys(parsing: text) }
    }
}
