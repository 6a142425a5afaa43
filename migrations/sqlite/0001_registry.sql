-- The registry's metadata: repositories, blobs and their links, manifests, tags, uploads.
-- Blob bytes live in object storage; manifests (at most 4 MiB) are kept here whole.

CREATE TABLE repositories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- A blob whose digest was verified and whose bytes are durably stored.
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which repositories may serve which blobs.
CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest TEXT NOT NULL REFERENCES blobs(digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs(digest);

CREATE TABLE manifests (
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT,
    subject_digest TEXT,
    annotations TEXT,
    size BIGINT NOT NULL,
    content BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests(repository_id, subject_digest);

-- What a manifest points to: blobs (config, layers) and manifests (index entries).
CREATE TABLE manifest_references (
    repository_id BIGINT NOT NULL,
    manifest_digest TEXT NOT NULL,
    child_kind TEXT NOT NULL,
    child_digest TEXT NOT NULL,
    PRIMARY KEY (repository_id, manifest_digest, child_kind, child_digest),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_references_by_child ON manifest_references(child_digest);

CREATE TABLE tags (
    repository_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests(repository_id, digest) ON DELETE CASCADE
);

-- Upload sessions live here, not in a process, so any process can continue one.
CREATE TABLE upload_sessions (
    id TEXT PRIMARY KEY,
    repository_name TEXT NOT NULL,
    size BIGINT NOT NULL,
    hash_state BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE upload_parts (
    session_id TEXT NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL,
    size BIGINT NOT NULL,
    storage_key TEXT NOT NULL,
    PRIMARY KEY (session_id, start_offset)
);
