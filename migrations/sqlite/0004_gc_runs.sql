-- Garbage-collection runs: one row per finished (non-dry) run of `rbee-registry gc` or of
-- the periodic collection inside `serve`, so that every serving process can export the
-- latest outcome on /metrics. Times are milliseconds since the Unix epoch; `succeeded` is
-- 1 or 0; the counts are what the run removed (up to the failure, for a failed run).
-- Only the newest runs are kept (`db::gc_runs::prune`).

CREATE TABLE gc_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    succeeded BIGINT NOT NULL,
    blobs_removed BIGINT NOT NULL,
    links_removed BIGINT NOT NULL,
    upload_sessions_removed BIGINT NOT NULL,
    orphaned_upload_objects_removed BIGINT NOT NULL,
    freed_bytes BIGINT NOT NULL,
    -- The error that ended a failed run.
    error TEXT
);
CREATE INDEX gc_runs_by_finish ON gc_runs(finished_at);
CREATE INDEX gc_runs_by_outcome ON gc_runs(succeeded, finished_at);
