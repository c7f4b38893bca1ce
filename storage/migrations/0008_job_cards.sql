-- Job cards: the Discord message showing a job's progress, and where its take was posted.
CREATE TABLE job_card (
    job_id INTEGER PRIMARY KEY REFERENCES job(id) ON DELETE CASCADE,
    channel_id INTEGER,
    message_id INTEGER,
    take_channel_id INTEGER,
    take_message_id INTEGER,
    settled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX job_card_unsettled ON job_card (settled, job_id);

-- A take chosen with "Use as reference": it guides the shot's next image generation.
CREATE TABLE shot_reference (
    shot_id INTEGER PRIMARY KEY REFERENCES shot(id) ON DELETE CASCADE,
    take_id INTEGER NOT NULL REFERENCES take(id) ON DELETE CASCADE,
    member_id INTEGER REFERENCES member(id),
    created_at TEXT NOT NULL
);
