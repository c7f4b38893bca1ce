-- Review: vote windows, candidate messages, review settings, approvals, retakes, shot marks.

-- A shot put to the vote. At most one window per shot is open or awaiting a decision.
CREATE TABLE vote_window (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    shot_id INTEGER NOT NULL REFERENCES shot(id) ON DELETE CASCADE,
    opened_by INTEGER REFERENCES member(id),
    opened_at TEXT NOT NULL,
    deadline TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'decision', 'closed')),
    outcome TEXT NOT NULL DEFAULT ''
        CHECK (outcome IN ('', 'approved', 'tie', 'no_quorum', 'no_support', 'decided',
                           'retake')),
    winner_take_id INTEGER REFERENCES take(id),
    summary_channel_id INTEGER,
    summary_message_id INTEGER,
    closed_at TEXT
);
CREATE UNIQUE INDEX vote_window_live ON vote_window (shot_id) WHERE state IN ('open', 'decision');
CREATE INDEX vote_window_state ON vote_window (production_id, state);

-- The Discord message that carries a take's vote reactions (one current message per take).
CREATE TABLE candidate_message (
    take_id INTEGER PRIMARY KEY REFERENCES take(id) ON DELETE CASCADE,
    window_id INTEGER NOT NULL REFERENCES vote_window(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL UNIQUE,
    posted_at TEXT NOT NULL
);
CREATE INDEX candidate_message_window ON candidate_message (window_id);

-- How a production decides; one row per production, created with defaults on first use.
CREATE TABLE review_settings (
    production_id INTEGER PRIMARY KEY REFERENCES production(id) ON DELETE CASCADE,
    quorum INTEGER NOT NULL DEFAULT 3 CHECK (quorum >= 0),
    margin REAL NOT NULL DEFAULT 1 CHECK (margin >= 0),
    creator_votes_count INTEGER NOT NULL DEFAULT 0 CHECK (creator_votes_count IN (0, 1)),
    producer_weight REAL NOT NULL DEFAULT 1 CHECK (producer_weight > 0),
    owner_may_approve INTEGER NOT NULL DEFAULT 0 CHECK (owner_may_approve IN (0, 1)),
    vote_hours REAL NOT NULL DEFAULT 48 CHECK (vote_hours > 0),
    updated_at TEXT NOT NULL
);

-- Every approval of a shot, in order: the newest is the shot's approved take.
CREATE TABLE approval (
    id INTEGER PRIMARY KEY,
    shot_id INTEGER NOT NULL REFERENCES shot(id) ON DELETE CASCADE,
    take_id INTEGER NOT NULL REFERENCES take(id) ON DELETE CASCADE,
    previous_take_id INTEGER REFERENCES take(id),
    approved_by INTEGER REFERENCES member(id),
    how TEXT NOT NULL CHECK (how IN ('vote', 'direct')),
    window_id INTEGER REFERENCES vote_window(id),
    score REAL,
    at TEXT NOT NULL
);
CREATE INDEX approval_shot ON approval (shot_id, id);

-- A shot sent back to its owner, with the note saying why.
CREATE TABLE retake (
    id INTEGER PRIMARY KEY,
    shot_id INTEGER NOT NULL REFERENCES shot(id) ON DELETE CASCADE,
    requested_by INTEGER REFERENCES member(id),
    note TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX retake_shot ON retake (shot_id, id);

-- Shots changed by review, waiting for the next Notion sync or cut; the consumer clears its mark.
CREATE TABLE shot_mark (
    shot_id INTEGER NOT NULL REFERENCES shot(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('notion', 'cut')),
    marked_at TEXT NOT NULL,
    PRIMARY KEY (shot_id, purpose)
);

-- The thread (under the takes channel) where a chapter's review notices are posted.
CREATE TABLE chapter_thread (
    chapter_id INTEGER PRIMARY KEY REFERENCES chapter(id) ON DELETE CASCADE,
    parent_channel_id INTEGER NOT NULL,
    thread_id INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
