DROP TABLE admin_audit;
DROP TABLE operator_keys;
