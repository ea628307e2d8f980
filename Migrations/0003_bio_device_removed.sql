-- Bio history keeps the device it was submitted to. When a device is removed, its bio rows are
-- detached (device_removed = 1): they keep the name the device last had, and a later device that
-- takes the same name neither inherits them on a rename nor answers an idempotency key with them.
ALTER TABLE bio ADD COLUMN device_removed INTEGER NOT NULL DEFAULT 0;
