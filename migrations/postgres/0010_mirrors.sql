-- Mirrors (`services::mirror`, spec/replication.md "Mirrors").
--
-- `mirror_state`: one row per upstream (its base URL) and repository a mirror run looked at:
-- the last run's start and finish (milliseconds since the Unix epoch), its result (`ok` or
-- `failed`) and error text, when the latest successful run finished, what it copied
-- (manifests, blobs, bytes) and skipped, and `behind_since`: since when the repository has had
-- tags the mirror could not bring here (NULL: caught up; the lag is now minus this).
CREATE TABLE mirror_state (
    upstream TEXT COLLATE "C" NOT NULL,
    repository TEXT COLLATE "C" NOT NULL,
    last_started_at BIGINT NOT NULL,
    last_finished_at BIGINT NOT NULL,
    last_result TEXT NOT NULL,
    last_error TEXT,
    last_success_at BIGINT,
    behind_since BIGINT,
    manifests_copied BIGINT NOT NULL DEFAULT 0,
    blobs_copied BIGINT NOT NULL DEFAULT 0,
    bytes_copied BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (upstream, repository)
);

-- `mirror_transfers`: a blob being copied, so that a run cut short resumes it: the upload
-- session (`upload_sessions`) its chunks go into and the bytes received so far (the session
-- is the truth; this is what `GET /v1/mirrors` shows). Removed when the blob is stored.
CREATE TABLE mirror_transfers (
    upstream TEXT COLLATE "C" NOT NULL,
    repository TEXT COLLATE "C" NOT NULL,
    digest TEXT COLLATE "C" NOT NULL,
    session_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    received BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (upstream, repository, digest)
);
