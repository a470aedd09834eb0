-- Re-publishing records in the background (src/jobs.rs): after a tenant's rules change, or a
-- group change that moves the permissions of more users than a request re-publishes itself.
-- A job moves through its items in id order in bounded batches, one transaction each; its
-- cursor is committed with each batch, so a job resumes where it stopped after a restart.
CREATE TABLE republish_jobs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    -- What asked for it, e.g. "mapping changed", "group 7f… renamed".
    reason TEXT NOT NULL,
    -- 'tenant': every group, then every user; 'listed': the users in republish_job_users.
    scope TEXT NOT NULL,
    -- 'groups', 'users', then 'done'.
    phase TEXT NOT NULL,
    -- The last id handled in the phase (NULL: from the start).
    cursor TEXT,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    published BIGINT NOT NULL DEFAULT 0,
    -- Records that could not be published (too large for an event): left as they were.
    skipped BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX republish_jobs_open ON republish_jobs (finished_at, created_at);
CREATE INDEX republish_jobs_tenant ON republish_jobs (tenant_id, created_at);
CREATE TABLE republish_job_users (
    job_id TEXT NOT NULL REFERENCES republish_jobs (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    PRIMARY KEY (job_id, user_id)
);
