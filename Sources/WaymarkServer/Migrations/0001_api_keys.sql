-- The HTTP API's keys, in the store's schema, recorded in server_migrations. A key is shown once
-- when it is made; only the SHA-256 of its secret part is kept.
CREATE TABLE api_keys (
    key_id text PRIMARY KEY,
    -- Hex of the SHA-256 of the secret part.
    secret_sha256 text NOT NULL,
    role text NOT NULL CHECK (role IN ('service', 'analyst', 'operator', 'admin')),
    -- A service key bound to a system stamps it into what it writes; its caller cannot claim another.
    source_system text,
    label text,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz,
    revoked_by text
);
