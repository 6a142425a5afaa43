-- Stars (the design document's `stars` in `/v1/workers/:id/stats`): one row per worker and
-- credential holder that starred it. `holder` is the principal's subject
-- (`license:<id>`, `publisher:<name>`), so one holder stars a worker at most once whatever
-- token of theirs they present. Times are milliseconds since the epoch.
CREATE TABLE worker_stars (
    worker_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    starred_at BIGINT NOT NULL,
    PRIMARY KEY (worker_id, holder)
);
