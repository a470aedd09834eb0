-- An event the broker refuses for good (e.g. larger than its message limit) is set aside with
-- the reason, so that it does not hold back every later event; it stays for an operator.
ALTER TABLE outbox ADD COLUMN failed_at BIGINT;
ALTER TABLE outbox ADD COLUMN failure TEXT;
