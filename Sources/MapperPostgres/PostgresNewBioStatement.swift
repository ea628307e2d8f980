import NIOCore
import PostgresNIO

/// The statement that inserts a run of ``PostgresNewBio`` rows and their payloads: every
/// column goes as an array (`unnest`), so its text never changes. It is prepared once per
/// connection: the server parses and plans it once instead of for every commit (planning was
/// about a tenth of the server's time per commit when it was sent as a new statement each
/// time). Both tables are written by it (a data-modifying `WITH`). A plain insert: an id
/// journaled already makes it fail (``PostgresNewBio`` says what happens then).
struct PostgresNewBioStatement: PostgresPreparedStatement {
    typealias Row = ()

    static let name = "mapperd_new_bios_v1"

    static let sql = """
        WITH rows AS (
            INSERT INTO bio(id, device, op, sector, sectors, idempotency_key, submitted_at, state, target_clones,
                            queue_order)
            SELECT id, device, op, sector, sectors, CASE WHEN keyed THEN key END, submitted, state, clones, ord
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::boolean[],
                        $8::float8[], $9::text[], $10::bigint[], $11::bigint[])
                AS r(id, device, op, sector, sectors, key, keyed, submitted, state, clones, ord))
        INSERT INTO bio_payload(id, data)
        SELECT id, data FROM unnest($12::bigint[], $13::bytea[]) AS p(id, data)
        """

    var ids: [Int64]
    var devices: [String]
    var ops: [String]
    var sectors: [Int64]
    var lengths: [Int64]
    var keys: [String]
    var keyed: [Bool]
    var submitted: [Double]
    var states: [String]
    var clones: [Int64]
    var orders: [Int64]
    var payloadIDs: [Int64]
    var payloads: [ByteBuffer]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 13)
        bindings.append(ids)
        bindings.append(devices)
        bindings.append(ops)
        bindings.append(sectors)
        bindings.append(lengths)
        bindings.append(keys)
        bindings.append(keyed)
        bindings.append(submitted)
        bindings.append(states)
        bindings.append(clones)
        bindings.append(orders)
        bindings.append(payloadIDs)
        bindings.append(payloads)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}
