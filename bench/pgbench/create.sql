-- The floor of POST /Users: the rows one user create writes, in one transaction (the user, its
-- email key, the outbox event), with a unique id per transaction. bench/run.py runs it with
--   pgbench -n -M prepared -c 16 -j 2 -T S -f create.sql
-- against a database migrated by `provisioning-core migrate` with a tenant 'bench'.
-- The payload sizes are those of a real user of the benchmark (attributes, record, event).
-- (The attributes JSON comes from bench_user_attributes(), made by seed.sql: in -M prepared mode
-- pgbench would take the colons of the schema URN inside a literal for variables.)
\set r random(1, 1000000000000000)
\set t random(1, 1000000000)
BEGIN;
INSERT INTO scim_users (tenant_id, id, user_name, user_name_key, external_id, active, display_name,
                        attributes, version, created_at, updated_at, account_id, record, record_version)
VALUES ('bench', 'pgb-' || :client_id::text || '-' || :r::text, 'pgb-' || :client_id::text || '-' || :r::text || '@example.com',
        'pgb-' || :client_id::text || '-' || :r::text || '@example.com', NULL, true, 'Given' || :t::text || ' Bench',
        bench_user_attributes('pgb-' || :client_id::text || '-' || :r::text || '@example.com', 'Given' || :t::text),
        1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 'pgb-' || :client_id::text || '-' || :r::text,
        '{"id": "pgb-' || :client_id::text || '-' || :r::text || '", "user_name": "pgb-' || :client_id::text || '-' || :r::text
          || '@example.com", "active": true, "email": "pgb-' || :client_id::text || '-' || :r::text
          || '@example.com", "given_name": "Given' || :t::text || '", "family_name": "Bench", "display_name": "Given'
          || :t::text || ' Bench", "roles": [], "permissions": [], "custom_fields": {}}',
        1);
INSERT INTO scim_user_emails (tenant_id, user_id, value_key)
VALUES ('bench', 'pgb-' || :client_id::text || '-' || :r::text, 'pgb-' || :client_id::text || '-' || :r::text || '@example.com');
INSERT INTO outbox (event_id, event_type, tenant_id, resource_type, resource_id, payload, created_at, trace_context)
VALUES (md5('e' || :client_id::text || '-' || :r::text), 'user.created', 'bench', 'User', 'pgb-' || :client_id::text || '-' || :r::text,
        convert_to(repeat(md5(:r::text), 14), 'UTF8'), (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
        NULL);
END;
