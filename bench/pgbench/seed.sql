-- The floor's data: tenant 'bench' and users 'seed-1' … 'seed-N' (psql -v seed_users=N), and the
-- attributes JSON of a user as the service stores it (create.sql uses it).
CREATE FUNCTION bench_user_attributes(user_name text, given text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "' || user_name
      || '", "name": {"givenName": "' || given || '", "familyName": "Bench"}, "displayName": "' || given
      || ' Bench", "emails": [{"value": "' || user_name || '", "type": "work", "primary": true}], "active": true}'
$$;
INSERT INTO tenants (id, display_name, created_at) VALUES ('bench', 'bench', 0);
INSERT INTO scim_users (tenant_id, id, user_name, user_name_key, external_id, active, display_name,
                        attributes, version, created_at, updated_at, account_id, record, record_version)
SELECT 'bench', 'seed-' || g, 'seed-' || g || '@example.com', 'seed-' || g || '@example.com', NULL, true,
       'Given' || g || ' Bench',
       bench_user_attributes('seed-' || g || '@example.com', 'Given' || g),
       1, 0, 0, 'seed-' || g, NULL, 1
  FROM generate_series(1, :seed_users) AS g;
INSERT INTO scim_user_emails (tenant_id, user_id, value_key)
SELECT 'bench', 'seed-' || g, 'seed-' || g || '@example.com' FROM generate_series(1, :seed_users) AS g;
ANALYZE;
