-- The job runner (`services::jobs`): one row per periodic or triggered job (catalog sync,
-- garbage collection, mirrors), shared by every process on this database.
--
-- The lease: `holder` (a runner's id) holds the job until `expires_at` (milliseconds since
-- the Unix epoch); a runner takes it with a compare-and-swap UPDATE (free and due, or held
-- but expired: a crashed holder), renews it while the job runs and clears it when done.
-- `running_since` is when the current run started. `next_run_at`: when the job is due next
-- (NULL: only when triggered); a trigger sets it to now.
-- The last finished run: `last_started_at`, `last_finished_at`, `last_succeeded` (1 or 0),
-- `last_message` (a summary, or the error of a failed run), `last_success_at` (when the
-- latest successful run finished), `runs` (finished runs so far).

CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    holder TEXT,
    expires_at BIGINT,
    running_since BIGINT,
    next_run_at BIGINT,
    last_started_at BIGINT,
    last_finished_at BIGINT,
    last_succeeded BIGINT,
    last_message TEXT,
    last_success_at BIGINT,
    runs BIGINT NOT NULL DEFAULT 0
);
