-- Workers: a derived index of worker versions and the download log.
--
-- worker_versions and worker_platforms are derived from what /v2 stores (a semver tag of
-- workers/<id> pointing at a valid worker index, its platform manifests and the metadata
-- layer); they are written in the same transaction as the tag, removed with it (cascade),
-- and can be rebuilt from the manifests at any time. The /v2 data stays the truth.

CREATE TABLE worker_versions (
    repository_id BIGINT NOT NULL,
    tag TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    version TEXT NOT NULL,
    index_digest TEXT NOT NULL,
    -- The metadata.json record of the version, as JSON text.
    metadata TEXT NOT NULL,
    indexed_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, tag),
    FOREIGN KEY (repository_id, tag) REFERENCES tags(repository_id, name) ON DELETE CASCADE
);
CREATE INDEX worker_versions_by_worker ON worker_versions(worker_id);

CREATE TABLE worker_platforms (
    repository_id BIGINT NOT NULL,
    tag TEXT NOT NULL,
    -- OCI spelling: os/architecture[/variant].
    platform TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    package_digest TEXT NOT NULL,
    package_size BIGINT NOT NULL,
    metadata_digest TEXT NOT NULL,
    PRIMARY KEY (repository_id, tag, platform),
    FOREIGN KEY (repository_id, tag) REFERENCES worker_versions(repository_id, tag) ON DELETE CASCADE
);
CREATE INDEX worker_platforms_by_package ON worker_platforms(repository_id, package_digest);

-- One row per completed download of a worker package. The client address is stored only
-- as a salted SHA-256.
CREATE TABLE worker_downloads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    worker_id TEXT NOT NULL,
    version TEXT NOT NULL,
    platform TEXT NOT NULL,
    downloaded_at BIGINT NOT NULL,
    user_agent TEXT,
    client_hash TEXT NOT NULL
);
CREATE INDEX worker_downloads_by_worker ON worker_downloads(worker_id, downloaded_at);
