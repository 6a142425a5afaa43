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

CREATE TRIGGER worker_versions_insert_generation AFTER INSERT ON worker_versions
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER worker_versions_update_generation AFTER UPDATE ON worker_versions
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER worker_versions_delete_generation AFTER DELETE ON worker_versions
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER worker_platforms_insert_generation AFTER INSERT ON worker_platforms
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER worker_platforms_update_generation AFTER UPDATE ON worker_platforms
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER worker_platforms_delete_generation AFTER DELETE ON worker_platforms
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_workers_insert_generation AFTER INSERT ON catalog_workers
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_workers_update_generation AFTER UPDATE ON catalog_workers
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER catalog_workers_delete_generation AFTER DELETE ON catalog_workers
BEGIN UPDATE worker_list_generation SET value = value + 1 WHERE id = 1; END;
