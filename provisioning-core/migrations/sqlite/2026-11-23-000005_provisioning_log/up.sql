-- Every SCIM request of a tenant, as operators read it: no bodies, no userNames, emails or
-- names. Pruned after PROVISIONING_LOG_RETENTION_DAYS.
CREATE TABLE provisioning_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    status INTEGER NOT NULL,
    scim_type TEXT,
    detail TEXT,
    warnings TEXT,
    latency_micros BIGINT NOT NULL,
    trace_id TEXT
);
CREATE INDEX provisioning_log_tenant_at ON provisioning_log (tenant_id, at);
CREATE INDEX provisioning_log_tenant_resource ON provisioning_log (tenant_id, resource_id);
