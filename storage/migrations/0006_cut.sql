-- The cut's report: what changed since the last cut, how complete the film is, what broke.
ALTER TABLE cut ADD COLUMN changelog TEXT NOT NULL DEFAULT '';
ALTER TABLE cut ADD COLUMN shots_total INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cut ADD COLUMN shots_approved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cut ADD COLUMN broken TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cut ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual';
CREATE INDEX cut_state ON cut (production_id, state, version);
