-- Where an uploaded take was posted (a generated take's post is on its job's card): the vote
-- goes on that post, so a take lives in one message.
CREATE TABLE upload_post (
    take_id INTEGER PRIMARY KEY REFERENCES take(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    posted_at TEXT NOT NULL
);
