DROP TABLE republish_job_users;
DROP TABLE republish_jobs;
