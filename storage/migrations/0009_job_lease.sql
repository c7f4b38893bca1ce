-- Job leases: one process at a time drives a job; a crashed process's lease runs out.
ALTER TABLE job ADD COLUMN claimed_by TEXT;
ALTER TABLE job ADD COLUMN lease_until TEXT;
-- When the provider last stopped answering about a submitted job (NULL: it answers).
ALTER TABLE job ADD COLUMN unanswered_since TEXT;
CREATE INDEX job_lease ON job (state, lease_until);
