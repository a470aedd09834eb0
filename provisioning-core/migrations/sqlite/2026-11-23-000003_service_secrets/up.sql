-- Secrets the service generates for itself and every replica shares (the key that signs
-- paging cursors).
CREATE TABLE service_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
