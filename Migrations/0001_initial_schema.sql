-- mapperd state: backends, paths, devices, both table slots, target run-time state, the
-- event log and the bio journal. Forward-only: never edit a migration once merged.

-- Small facts about the store itself (the bio id epoch).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE backend (
    name         TEXT PRIMARY KEY NOT NULL,
    file         TEXT NOT NULL,
    size_sectors INTEGER NOT NULL CHECK (size_sectors > 0)
);

CREATE TABLE path (
    name       TEXT PRIMARY KEY NOT NULL,
    backend    TEXT NOT NULL REFERENCES backend(name) ON UPDATE CASCADE,
    active     INTEGER NOT NULL DEFAULT 1,
    fail_count INTEGER NOT NULL DEFAULT 0,
    fault_mode TEXT NOT NULL DEFAULT 'none' CHECK (fault_mode IN ('none', 'error', 'stall', 'delay')),
    delay_ms   INTEGER
);

CREATE TABLE device (
    name      TEXT PRIMARY KEY NOT NULL,
    uuid      TEXT UNIQUE,
    read_only INTEGER NOT NULL DEFAULT 0,
    suspended INTEGER NOT NULL DEFAULT 1,
    event_nr  INTEGER NOT NULL DEFAULT 0,
    -- creation order, so devices stacked on others are rebuilt after them
    created   INTEGER NOT NULL
);

-- One row per table line; slot is 'live' or 'inactive'.
CREATE TABLE table_line (
    device   TEXT NOT NULL REFERENCES device(name) ON UPDATE CASCADE ON DELETE CASCADE,
    slot     TEXT NOT NULL CHECK (slot IN ('live', 'inactive')),
    position INTEGER NOT NULL,
    line     TEXT NOT NULL,
    PRIMARY KEY (device, slot, position)
) WITHOUT ROWID;

-- Run-time state of live targets (multipath queue_if_no_path and its saved value).
CREATE TABLE target_state (
    device       TEXT NOT NULL REFERENCES device(name) ON UPDATE CASCADE ON DELETE CASCADE,
    target_index INTEGER NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (device, target_index, key)
) WITHOUT ROWID;

CREATE TABLE event (
    seq    INTEGER PRIMARY KEY,
    at     REAL NOT NULL,
    kind   TEXT NOT NULL,
    device TEXT,
    path   TEXT,
    detail TEXT NOT NULL DEFAULT ''
);

-- Every bio that entered a queue (target queue, pushback, deferred). state: queued | pushback |
-- deferred | inflight (left a queue, not ended) | completed | failed. queue_order sorts bios
-- within a list. The payload of a write lives in bio_payload while the bio has not ended, so
-- that state changes rewrite only this small row.
CREATE TABLE bio (
    id              INTEGER PRIMARY KEY NOT NULL,
    device          TEXT NOT NULL,
    op              TEXT NOT NULL CHECK (op IN ('read', 'write', 'flush', 'discard')),
    sector          INTEGER NOT NULL,
    sectors         INTEGER NOT NULL,
    idempotency_key TEXT,
    submitted_at    REAL NOT NULL,
    state           TEXT NOT NULL,
    target_clones   INTEGER NOT NULL DEFAULT 0,
    queue_order     INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    completed_at    REAL
);

CREATE TABLE bio_payload (
    id   INTEGER PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
);

CREATE INDEX bio_by_device_state ON bio(device, state, queue_order);
CREATE INDEX bio_by_key ON bio(device, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX bio_ended ON bio(completed_at) WHERE completed_at IS NOT NULL;
