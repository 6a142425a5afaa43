-- Admin sessions of the browser pages (spec/auth.md, "Admin sessions"): the cookie holds a
-- random secret, the database only its SHA-256, so every process on the database knows a
-- session and logging out ends it everywhere. Rows past `expires_at` are refused and removed.
CREATE TABLE admin_sessions (
    id_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at);
