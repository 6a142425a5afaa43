-- The Git catalog (spec/catalog.md): what the last applied sync (or `catalog add`) read from
-- the catalog repository. The catalog is the truth for the fields it owns (description,
-- license, README, PKGBUILD, pricing, requires_license, …); the registry's artifacts stay the
-- truth for versions, platforms, sizes and checksums. Times are milliseconds since the epoch.

-- One row per worker branch ever applied. `metadata` is the checked record (the design's
-- metadata.json with its defaults filled in, as JSON). `listed` is 1 while the index names
-- the branch and 0 once it is gone (`delisted_at`); the worker's artifacts stay.
CREATE TABLE catalog_workers (
    worker_id TEXT COLLATE "C" PRIMARY KEY,
    branch_commit TEXT NOT NULL,
    metadata TEXT NOT NULL,
    pkgbuild TEXT,
    readme TEXT,
    requires_license BIGINT NOT NULL,
    listed BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delisted_at BIGINT
);

-- The one row (id 1) saying which catalog revision is applied: `revision` is the SHA-256 of
-- master's and every named branch's commit (the compare-and-swap a sync makes in its
-- transaction, so each revision is applied once), with the per-branch errors and unlisted
-- branches of that revision (JSON arrays), and the last attempt and its failure, if it failed
-- before applying anything (an unreachable source, a broken index).
CREATE TABLE catalog_state (
    id BIGINT PRIMARY KEY,
    revision TEXT,
    master_commit TEXT,
    applied_at BIGINT,
    branch_errors TEXT NOT NULL,
    unlisted TEXT NOT NULL,
    attempted_at BIGINT,
    attempt_error TEXT
);
INSERT INTO catalog_state (id, branch_errors, unlisted) VALUES (1, '[]', '[]');
