ALTER TABLE webhook_endpoints DROP COLUMN start_running;
