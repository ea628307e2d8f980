-- Remote backends (NBD exports) beside file ones, path transports and checkers, and
-- multipathd's no_path_retry per device.

-- A backend is a file or a remote export, never both.
CREATE TABLE backend_new (
    name         TEXT PRIMARY KEY NOT NULL,
    file         TEXT,
    uri          TEXT,
    size_sectors INTEGER NOT NULL CHECK (size_sectors > 0),
    CHECK ((file IS NULL) <> (uri IS NULL))
);
INSERT INTO backend_new(name, file, size_sectors) SELECT name, file, size_sectors FROM backend;
DROP TABLE backend;
ALTER TABLE backend_new RENAME TO backend;

-- The path's own route to a remote backend when not the backend's URI.
ALTER TABLE path ADD COLUMN uri TEXT;
-- The checker: both set, or both NULL (not checked).
ALTER TABLE path ADD COLUMN checker_interval_ms INTEGER;
ALTER TABLE path ADD COLUMN checker_timeout_ms INTEGER;

-- 'queue', 'fail' or a number of checker intervals.
ALTER TABLE device ADD COLUMN no_path_retry TEXT NOT NULL DEFAULT 'queue';
