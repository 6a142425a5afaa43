-- The worker list's generation: one counter that triggers move on with every change to a
-- table the merged worker list is read from (worker_versions, worker_platforms,
-- catalog_workers; rows deleted by a cascade from their tag included). A process holding
-- the merged list in memory (`services::workers::list_cache`) reads this one row to know
-- whether its copy is current, also when other processes share the database.
CREATE TABLE worker_list_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO worker_list_generation (id, value) VALUES (1, 0);

CREATE FUNCTION bump_worker_list_generation() RETURNS trigger AS $$
BEGIN
    UPDATE worker_list_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER worker_versions_generation AFTER INSERT OR UPDATE OR DELETE ON worker_versions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_worker_list_generation();
CREATE TRIGGER worker_platforms_generation AFTER INSERT OR UPDATE OR DELETE ON worker_platforms
    FOR EACH STATEMENT EXECUTE FUNCTION bump_worker_list_generation();
CREATE TRIGGER catalog_workers_generation AFTER INSERT OR UPDATE OR DELETE ON catalog_workers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_worker_list_generation();
