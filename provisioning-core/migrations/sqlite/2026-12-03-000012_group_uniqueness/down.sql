DROP INDEX scim_groups_external_id;
DROP INDEX scim_groups_display_name;
CREATE INDEX scim_groups_display_name ON scim_groups (tenant_id, display_name_key);
CREATE INDEX scim_groups_external_id ON scim_groups (tenant_id, external_id);
