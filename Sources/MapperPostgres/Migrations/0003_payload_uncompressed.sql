-- Write payloads are stored as they are, out of line: they are disk blocks, which rarely
-- compress, so the server no longer tries to compress each one before storing it.
-- Forward-only: never edit a migration once merged.
ALTER TABLE bio_payload ALTER COLUMN data SET STORAGE EXTERNAL;
