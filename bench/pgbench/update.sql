-- The floor of PATCH /Users/{id} (replace one attribute): read the row, write it back with the
-- next version, and an outbox event, in one transaction. bench/run.py runs it with
--   pgbench -n -M prepared -c 16 -j 2 -T S -D seed_users=N -f update.sql
\set n random(1, :seed_users)
\set t random(1, 1000000000)
BEGIN;
SELECT attributes, version FROM scim_users WHERE tenant_id = 'bench' AND id = 'seed-' || :n::text FOR UPDATE;
UPDATE scim_users
   SET attributes = attributes, display_name = 'Title ' || :t::text, version = version + 1,
       record_version = record_version + 1, updated_at = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
 WHERE tenant_id = 'bench' AND id = 'seed-' || :n::text;
INSERT INTO outbox (event_id, event_type, tenant_id, resource_type, resource_id, payload, created_at, trace_context)
VALUES (md5('u' || :client_id::text || '-' || :t::text || '-' || :n::text), 'user.updated', 'bench', 'User', 'seed-' || :n::text,
        convert_to(repeat(md5(:t::text), 14), 'UTF8'), (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        NULL);
END;
