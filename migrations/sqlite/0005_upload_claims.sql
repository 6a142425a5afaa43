-- When a `PUT ?digest=` claimed the session to complete it (milliseconds); NULL while the
-- session is open. Only one finisher can set it (a conditional UPDATE on the size it read);
-- the others lose, and a claimed session accepts no chunk and no other finish.
ALTER TABLE upload_sessions ADD COLUMN finishing_since BIGINT;
