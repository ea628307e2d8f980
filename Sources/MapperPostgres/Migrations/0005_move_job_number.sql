-- Move job numbers come from the database: two hosts sharing it each numbered their jobs
-- from their own, so both made `move-1` and the second one's record replaced the first's.
-- The sequence starts past every job made before this migration.
-- Forward-only: never edit a migration once merged.
CREATE SEQUENCE move_job_number MINVALUE 1;
SELECT setval('move_job_number', COALESCE(max(substring(id FROM 6)::bigint), 0) + 1, false)
FROM move_job WHERE id ~ '^move-[0-9]{1,18}$';
