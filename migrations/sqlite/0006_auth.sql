-- Token authentication (spec/auth.md).
-- Token signing keys (Ed25519), shared by every process on this database. The newest
-- unretired key signs; every key still here verifies. `keys rotate` retires the current key
-- and removes keys retired longer ago than the longest token lifetime plus skew.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    -- PKCS#8 document, base64url (secret).
    private_key TEXT NOT NULL,
    -- Raw Ed25519 public key, base64url.
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
-- The admin token: only its SHA-256; one row, created by the first `serve`.
CREATE TABLE admin_tokens (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    token_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- Refresh tokens of the OAuth2 form: the credential sealed with a key only the token holds,
-- under the SHA-256 of the token's id.
CREATE TABLE refresh_tokens (
    id_hash TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
