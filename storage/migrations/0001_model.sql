-- The production's model (DESIGN.md "Model"). Later migrations add columns, never rewrite this.
-- Times are ISO-8601 UTC text; money is USD as REAL; JSON columns hold plain objects.

CREATE TABLE production (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL UNIQUE,
    title TEXT NOT NULL,
    producer_role TEXT NOT NULL DEFAULT 'Producer',
    board_channel_id INTEGER,
    takes_channel_id INTEGER,
    cuts_channel_id INTEGER,
    max_chapters_per_creator INTEGER NOT NULL DEFAULT 2,
    settings TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A person taking part: a Discord user, or a name given on the shell.
CREATE TABLE member (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    discord_id INTEGER,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (production_id, discord_id)
);
CREATE UNIQUE INDEX member_shell_name ON member (production_id, name) WHERE discord_id IS NULL;

CREATE TABLE chapter (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    number INTEGER NOT NULL CHECK (number > 0),
    title TEXT NOT NULL,
    synopsis TEXT NOT NULL DEFAULT '',
    owner_id INTEGER REFERENCES member(id),
    claimed_at TEXT,
    due_date TEXT,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'wip', 'needs_review', 'approved', 'retake', 'omitted')),
    priority TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (production_id, number)
);
CREATE INDEX chapter_owner ON chapter (production_id, owner_id);

-- Content-addressed media: one row per distinct file, stored under media/<sha256[:2]>/<sha256>.
CREATE TABLE media_file (
    sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
    kind TEXT NOT NULL CHECK (kind IN ('video', 'image', 'audio')),
    container TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL CHECK (size >= 0),
    duration REAL,
    width INTEGER,
    height INTEGER,
    fps_num INTEGER,
    fps_den INTEGER,
    video_codec TEXT,
    audio_codec TEXT,
    has_audio INTEGER NOT NULL DEFAULT 0,
    original_name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE TABLE shot (
    id INTEGER PRIMARY KEY,
    chapter_id INTEGER NOT NULL REFERENCES chapter(id) ON DELETE CASCADE,
    number INTEGER NOT NULL CHECK (number > 0),
    description TEXT NOT NULL DEFAULT '',
    planned_duration REAL NOT NULL CHECK (planned_duration > 0),
    camera TEXT NOT NULL DEFAULT '',
    characters TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'todo'
        CHECK (status IN ('todo', 'wip', 'needs_review', 'approved', 'retake', 'omitted')),
    approved_take_id INTEGER REFERENCES take(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (chapter_id, number)
);

-- A take is immutable once made: a new attempt is a new revision.
CREATE TABLE take (
    id INTEGER PRIMARY KEY,
    shot_id INTEGER NOT NULL REFERENCES shot(id) ON DELETE CASCADE,
    revision INTEGER NOT NULL CHECK (revision > 0),
    source TEXT NOT NULL CHECK (source IN ('generated', 'uploaded')),
    media_sha256 TEXT NOT NULL REFERENCES media_file(sha256),
    preview_sha256 TEXT REFERENCES media_file(sha256),
    thumbnail_sha256 TEXT REFERENCES media_file(sha256),
    kind TEXT NOT NULL CHECK (kind IN ('video', 'image', 'audio')),
    provider TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    prompt TEXT NOT NULL DEFAULT '',
    negative_prompt TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    params TEXT NOT NULL DEFAULT '{}',
    external_id TEXT NOT NULL DEFAULT '',
    cost REAL NOT NULL DEFAULT 0,
    creator_id INTEGER REFERENCES member(id),
    job_id INTEGER,
    status TEXT NOT NULL DEFAULT 'candidate'
        CHECK (status IN ('candidate', 'approved', 'rejected', 'superseded')),
    created_at TEXT NOT NULL,
    UNIQUE (shot_id, revision)
);
CREATE INDEX take_media ON take (media_sha256);

-- A chapter's audio stems: voice-over, effects, music as separate tracks.
CREATE TABLE stem (
    id INTEGER PRIMARY KEY,
    chapter_id INTEGER NOT NULL REFERENCES chapter(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('vo', 'sfx', 'music')),
    media_sha256 TEXT NOT NULL REFERENCES media_file(sha256),
    creator_id INTEGER REFERENCES member(id),
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX stem_active ON stem (chapter_id, kind) WHERE active = 1;

-- One vote per member per take; value +1 for, -1 against.
CREATE TABLE vote (
    take_id INTEGER NOT NULL REFERENCES take(id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES member(id),
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    weight REAL NOT NULL DEFAULT 1,
    cast_at TEXT NOT NULL,
    PRIMARY KEY (take_id, member_id)
);

-- A generation request and its life. external_id is written before anything else happens.
CREATE TABLE job (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    member_id INTEGER REFERENCES member(id),
    shot_id INTEGER REFERENCES shot(id),
    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'upscale', 'voice')),
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
    updated_at TEXT NOT NULL
);
CREATE INDEX job_state ON job (state, provider);
CREATE INDEX job_member ON job (member_id, state);

CREATE TABLE cut (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'building'
        CHECK (state IN ('building', 'published', 'failed')),
    timeline TEXT NOT NULL DEFAULT '{}',
    path TEXT NOT NULL DEFAULT '',
    duration REAL,
    verdict TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    finished_at TEXT,
    UNIQUE (production_id, version)
);

-- Who changed what: one row per change, never updated.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    actor_id INTEGER REFERENCES member(id),
    entity TEXT NOT NULL,
    entity_id INTEGER,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT,
    at TEXT NOT NULL
);
CREATE INDEX audit_entity ON audit (entity, entity_id);

-- For consistency across takes: trigger words, LoRA or reference images, voice.
CREATE TABLE character (
    id INTEGER PRIMARY KEY,
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    trigger_words TEXT NOT NULL DEFAULT '',
    lora TEXT NOT NULL DEFAULT '',
    reference_images TEXT NOT NULL DEFAULT '[]',
    voice_id TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (production_id, name COLLATE NOCASE)
);

-- Durable timers (as RoboDanny's reminder cog): one dispatcher fires them, after restarts too.
CREATE TABLE timer (
    id INTEGER PRIMARY KEY,
    event TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX timer_expires ON timer (expires_at);
