DROP TABLE tenant_schemas;
