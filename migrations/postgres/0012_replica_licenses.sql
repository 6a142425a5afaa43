-- Replicas (spec/replication.md, "Archives"): what `rbee-registry import` brings from the
-- origin so licenses verify offline. Times are milliseconds since the Unix epoch.

-- The origin's license verification keys: public keys only (base64url of the raw 32
-- bytes), never a private key. A license signed by one of them verifies here.
CREATE TABLE replica_license_keys (
    kid TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    imported_at BIGINT NOT NULL
);

-- Licenses the origin revoked: a token naming one of these ids is refused (`revoked`).
CREATE TABLE replica_license_revocations (
    license_id TEXT PRIMARY KEY,
    imported_at BIGINT NOT NULL
);
