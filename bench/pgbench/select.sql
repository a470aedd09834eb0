-- The floor of GET /Users/{id} and GET /Users?filter=userName eq "…": one indexed lookup of a
-- user row by (tenant_id, user_name_key). bench/run.py runs it with
--   pgbench -n -M prepared -c 16 -j 2 -T S -D seed_users=N -f select.sql
-- on the rows 'seed-1' … 'seed-N' it inserted (tenant 'bench').
\set n random(1, :seed_users)
SELECT id, user_name, external_id, active, display_name, attributes, version, created_at, updated_at
  FROM scim_users
 WHERE tenant_id = 'bench' AND user_name_key = 'seed-' || :n::text || '@example.com';
