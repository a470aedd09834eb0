DROP INDEX teams_external_id;
DROP INDEX accounts_scim_user_id;
DROP INDEX accounts_user_name;
DROP INDEX accounts_external_id;
DROP TABLE service_credentials;
