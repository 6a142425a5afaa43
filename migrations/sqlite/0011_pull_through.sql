-- The pull-through cache (`services::pull_through`, spec/replication.md): when each tag of a
-- cached repository was last checked against its upstream, and what it named then. A tag
-- is rechecked once `pull_through.tag_ttl` has passed since `checked_at` (milliseconds
-- since the Unix epoch); with the upstream down the cached tag is served anyway.

CREATE TABLE pull_through_tags (
    repository_name TEXT NOT NULL,
    tag TEXT NOT NULL,
    upstream TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (repository_name, tag)
);
