-- A group's displayName (case-insensitively) and its externalId, when given, are unique per
-- tenant: Entra and Okta match groups by `displayName eq`, so a second group of the same name
-- breaks their matching (DuplicateTargetEntries), and a retried POST /Groups must not create
-- one. A database holding such duplicates already must have them resolved before this runs.
DROP INDEX scim_groups_display_name;
DROP INDEX scim_groups_external_id;
CREATE UNIQUE INDEX scim_groups_display_name ON scim_groups (tenant_id, display_name_key);
CREATE UNIQUE INDEX scim_groups_external_id ON scim_groups (tenant_id, external_id) WHERE external_id IS NOT NULL;
