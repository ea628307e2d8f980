-- mapperd state on PostgreSQL: the same tables as the SQLite store's, with PostgreSQL's types.
-- Forward-only: never edit a migration once merged.

-- Small facts about the store itself (the bio id epoch).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- A backend is a file (relative to the data directory) or a remote export, never both.
CREATE TABLE backend (
    name         TEXT PRIMARY KEY,
    file         TEXT,
    uri          TEXT,
    size_sectors BIGINT NOT NULL CHECK (size_sectors > 0),
    CHECK ((file IS NULL) <> (uri IS NULL))
);

CREATE TABLE path (
    name                TEXT PRIMARY KEY,
    backend             TEXT NOT NULL REFERENCES backend(name) ON UPDATE CASCADE,
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    fail_count          BIGINT NOT NULL DEFAULT 0,
    fault_mode          TEXT NOT NULL DEFAULT 'none' CHECK (fault_mode IN ('none', 'error', 'stall', 'delay')),
    delay_ms            BIGINT,
    -- The path's own route to a remote backend when not the backend's URI.
    uri                 TEXT,
    -- The checker: both set, or both NULL (not checked).
    checker_interval_ms BIGINT,
    checker_timeout_ms  BIGINT
);

CREATE TABLE device (
    name          TEXT PRIMARY KEY,
    uuid          TEXT UNIQUE,
    read_only     BOOLEAN NOT NULL DEFAULT FALSE,
    suspended     BOOLEAN NOT NULL DEFAULT TRUE,
    event_nr      BIGINT NOT NULL DEFAULT 0,
    -- creation order, so devices stacked on others are rebuilt after them
    created       BIGINT NOT NULL,
    -- 'queue', 'fail' or a number of checker intervals.
    no_path_retry TEXT NOT NULL DEFAULT 'queue'
);

-- One row per table line; slot is 'live' or 'inactive'.
CREATE TABLE table_line (
    device   TEXT NOT NULL REFERENCES device(name) ON UPDATE CASCADE ON DELETE CASCADE,
    slot     TEXT NOT NULL CHECK (slot IN ('live', 'inactive')),
    position BIGINT NOT NULL,
    line     TEXT NOT NULL,
    PRIMARY KEY (device, slot, position)
);

-- Run-time state of live targets.
CREATE TABLE target_state (
    device       TEXT NOT NULL REFERENCES device(name) ON UPDATE CASCADE ON DELETE CASCADE,
    target_index BIGINT NOT NULL,
    key          TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (device, target_index, key)
);

CREATE TABLE event (
    seq    BIGINT PRIMARY KEY,
    at     DOUBLE PRECISION NOT NULL,
    kind   TEXT NOT NULL,
    device TEXT,
    path   TEXT,
    detail TEXT NOT NULL DEFAULT ''
);

-- Every bio that entered a queue; see the SQLite store's schema for the states. A removed
-- device's rows are detached (device_removed) and keep the name it last had.
CREATE TABLE bio (
    id              BIGINT PRIMARY KEY,
    device          TEXT NOT NULL,
    op              TEXT NOT NULL CHECK (op IN ('read', 'write', 'flush', 'discard')),
    sector          BIGINT NOT NULL,
    sectors         BIGINT NOT NULL,
    idempotency_key TEXT,
    submitted_at    DOUBLE PRECISION NOT NULL,
    state           TEXT NOT NULL,
    target_clones   BIGINT NOT NULL DEFAULT 0,
    queue_order     BIGINT NOT NULL DEFAULT 0,
    error           TEXT,
    completed_at    DOUBLE PRECISION,
    device_removed  BOOLEAN NOT NULL DEFAULT FALSE
);

-- A write's payload while the bio has not ended, so that state changes rewrite only the small row.
CREATE TABLE bio_payload (
    id   BIGINT PRIMARY KEY,
    data BYTEA NOT NULL
);

CREATE INDEX bio_by_device_state ON bio(device, state, queue_order);
CREATE INDEX bio_by_key ON bio(device, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX bio_ended ON bio(completed_at) WHERE completed_at IS NOT NULL;
CREATE INDEX bio_pending ON bio(device) WHERE completed_at IS NULL;

-- Move jobs: the job's record as JSON; `position` keeps creation order.
CREATE TABLE move_job (
    position BIGSERIAL,
    id       TEXT PRIMARY KEY,
    record   TEXT NOT NULL
);
