-- Schema extensions a tenant declares (RFC 7643 §7 representation), for its Users or Groups.
CREATE TABLE tenant_schemas (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
