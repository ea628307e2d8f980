-- Move jobs: one row per job, holding the job's record as JSON (its phase, its progress and the
-- table it started from, from which its mirrored and destination tables are derived again).
-- Rows stay after a job ends so that its outcome can still be read.
CREATE TABLE move_job (
    id TEXT PRIMARY KEY NOT NULL,
    record TEXT NOT NULL
);
