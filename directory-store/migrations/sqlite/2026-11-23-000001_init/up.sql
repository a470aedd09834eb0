-- The directory: a projection of the change events. Deleted records stay as tombstones (with
-- their last version) so that an older event arriving late cannot bring them back.
CREATE TABLE accounts (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    external_id TEXT,
    active BOOLEAN NOT NULL,
    email TEXT,
    given_name TEXT,
    family_name TEXT,
    display_name TEXT,
    roles TEXT NOT NULL,
    version BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX accounts_email ON accounts (tenant_id, email);

CREATE TABLE teams (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    external_id TEXT,
    version BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE memberships (
    tenant_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, team_id, account_id)
);
CREATE INDEX memberships_account ON memberships (tenant_id, account_id);

-- The next offset to consume per partition, written in the transaction that applies the event.
CREATE TABLE consumed_offsets (
    topic TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);
