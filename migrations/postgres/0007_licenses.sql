-- Credentials and the per-worker access policy (spec/auth.md "Licenses and publishers").
-- Times are milliseconds since the Unix epoch unless named `_secs`.

-- Whether a worker needs a license, decided before its first push: by an admin
-- (`rbee-registry worker set-policy`) or by the catalog sync from metadata.json. A worker
-- without a row is open. `source` is 'admin' or 'catalog'.
CREATE TABLE worker_policies (
    worker_id TEXT PRIMARY KEY,
    requires_license BIGINT NOT NULL,
    source TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Ed25519 keys that sign license tokens; the newest signs, all verify. `private_key` is the
-- PKCS#8 document (base64url), never logged; `public_key` is base64url of the raw 32 bytes.
CREATE TABLE license_keys (
    kid TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Issued licenses (the design's `licenses` record). Only a hash of the token is kept.
-- `status`: 'active' or 'cancelled' ('expired' is shown once `expires_at_secs` has passed).
CREATE TABLE licenses (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    holder_email TEXT NOT NULL,
    -- JSON array of worker ids.
    worker_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at_secs BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_verified_at BIGINT
);
CREATE INDEX licenses_by_status ON licenses(status);

-- Publisher tokens (CI): push and pull on their repository patterns. Only a hash is kept.
CREATE TABLE publishers (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    -- JSON array of repository patterns.
    patterns TEXT NOT NULL,
    allow_delete BIGINT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- The key of the registry's self-signed download URLs, shared by every process on this
-- database (one row, id 1, created by the first process that needs it).
CREATE TABLE url_signing_keys (
    id BIGINT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
