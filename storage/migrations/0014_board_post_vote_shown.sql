-- Issue 22: the board's one message in the board channel, and votes whose messages show
-- their state (a close is committed first, then shown; a restart shows what was not).

-- The production board's message: posted at set-up, pinned, edited in place, posted again
-- when deleted. `shown` is a digest of what it shows; `audit_id` the last change it reflects.
CREATE TABLE board_post (
    production_id INTEGER PRIMARY KEY REFERENCES production(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL UNIQUE,
    shown TEXT NOT NULL DEFAULT '',
    audit_id INTEGER NOT NULL DEFAULT 0,
    posted_at TEXT NOT NULL
);

-- A production's newest change, found without scanning its history (the board follows it).
CREATE INDEX audit_production ON audit (production_id, id);

-- The vote state its messages last showed; a window whose state moved on is shown again.
-- Votes decided before this migration keep their messages as they are.
ALTER TABLE vote_window ADD COLUMN shown_state TEXT NOT NULL DEFAULT '';
UPDATE vote_window SET shown_state = state;
