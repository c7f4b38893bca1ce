-- Generations: what a job produced, when it ran, and whether its cost is the provider's or ours.
ALTER TABLE job ADD COLUMN outputs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE job ADD COLUMN cost_estimated INTEGER NOT NULL DEFAULT 1;
ALTER TABLE job ADD COLUMN submitted_at TEXT;
ALTER TABLE job ADD COLUMN finished_at TEXT;
CREATE INDEX job_queued ON job (state, not_before, id);
CREATE INDEX job_production ON job (production_id, created_at);
