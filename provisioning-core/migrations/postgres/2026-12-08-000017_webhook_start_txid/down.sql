ALTER TABLE webhook_endpoints DROP COLUMN start_txid;
