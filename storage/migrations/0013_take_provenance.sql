-- Provenance of takes made in creators' own tools: the tool's job page, and the take a take
-- was made from (an upscale or an animation of another take of the shot).
ALTER TABLE take ADD COLUMN source_url TEXT NOT NULL DEFAULT '';
ALTER TABLE take ADD COLUMN based_on INTEGER REFERENCES take(id);
CREATE INDEX take_based_on ON take (based_on);

-- A job may fetch a take from a link (kind 'upload'): SQLite cannot widen a CHECK in place,
-- so the job table is rebuilt, every column and row as it was; its cards are kept aside
-- while the old table goes (dropping it would delete them by cascade) and put back.
CREATE TEMP TABLE job_card_kept AS SELECT * FROM job_card;
CREATE TABLE job_next (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    member_id INTEGER REFERENCES member(id),
    shot_id INTEGER REFERENCES shot(id),
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'upscale', 'voice', 'upload')),
    provider TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'submitted', 'running', 'succeeded', 'failed', 'cancelled')),
    external_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    cost REAL NOT NULL DEFAULT 0,
    take_id INTEGER REFERENCES take(id),
    not_before TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    outputs TEXT NOT NULL DEFAULT '[]',
    cost_estimated INTEGER NOT NULL DEFAULT 1,
    submitted_at TEXT,
    finished_at TEXT,
    claimed_by TEXT,
    lease_until TEXT,
    unanswered_since TEXT
);
INSERT INTO job_next (id, production_id, member_id, shot_id, kind, provider, params, state,
    external_id, attempts, progress, error, cost, take_id, not_before, created_at, updated_at,
    outputs, cost_estimated, submitted_at, finished_at, claimed_by, lease_until,
    unanswered_since)
SELECT id, production_id, member_id, shot_id, kind, provider, params, state, external_id,
    attempts, progress, error, cost, take_id, not_before, created_at, updated_at, outputs,
    cost_estimated, submitted_at, finished_at, claimed_by, lease_until, unanswered_since
FROM job;
DROP TABLE job;
ALTER TABLE job_next RENAME TO job;
INSERT INTO job_card SELECT * FROM job_card_kept;
DROP TABLE job_card_kept;
CREATE INDEX job_state ON job (state, provider);
CREATE INDEX job_member ON job (member_id, state);
CREATE INDEX job_queued ON job (state, not_before, id);
CREATE INDEX job_production ON job (production_id, created_at);
CREATE INDEX job_lease ON job (state, lease_until);
