DROP INDEX scim_groups_updated;
DROP INDEX scim_users_updated;
DROP TABLE scim_user_emails;
