-- Hosts sharing one database, their leases, and device ownership with an epoch (fencing).
-- Forward-only: never edit a migration once merged.

-- One row per host (its --host-id). Times are the database's clock: a lease is held while
-- lease_expires > now(); the host renews it every lease_ms/3.
CREATE TABLE host (
    id            TEXT PRIMARY KEY,
    lease_ms      BIGINT NOT NULL CHECK (lease_ms > 0),
    lease_expires TIMESTAMPTZ NOT NULL,
    renewed_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL
);

-- The host that serves the device (NULL: none yet; the next host to start adopts it) and the
-- fencing token: every claim adds one, and a host writes for a device only while the row
-- still carries its host id and the epoch it knows.
ALTER TABLE device ADD COLUMN owner TEXT;
ALTER TABLE device ADD COLUMN epoch BIGINT NOT NULL DEFAULT 1;
CREATE INDEX device_by_owner ON device(owner);
