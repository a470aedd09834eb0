DROP TABLE consumed_offsets;
DROP TABLE memberships;
DROP TABLE teams;
DROP TABLE accounts;
