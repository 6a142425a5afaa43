-- Garbage collection: when a blob or a repository's link to it was last relied on.
-- An upload claims its blob (and a manifest push its links) by setting touched_at to now;
-- `gc` removes only what nothing references and nobody touched within its grace period.

ALTER TABLE blobs ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET touched_at = created_at;

ALTER TABLE repository_blobs ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE repository_blobs SET touched_at = created_at;

CREATE INDEX upload_sessions_by_age ON upload_sessions(updated_at);
