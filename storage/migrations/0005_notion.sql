-- The Notion sync: where each production's databases live and what was last exchanged per row.

-- One link per production: the Chapters and Shots databases and their data sources.
CREATE TABLE notion_link (
    production_id INTEGER PRIMARY KEY REFERENCES production(id) ON DELETE CASCADE,
    parent_page_id TEXT,
    chapters_database_id TEXT NOT NULL,
    chapters_data_source_id TEXT NOT NULL,
    shots_database_id TEXT NOT NULL,
    shots_data_source_id TEXT NOT NULL,
    -- Each data source names its title property as it likes.
    chapters_title TEXT NOT NULL DEFAULT 'Name',
    shots_title TEXT NOT NULL DEFAULT 'Name',
    -- Movable fields the production hands to Notion (JSON list of field names).
    notion_owned TEXT NOT NULL DEFAULT '[]',
    last_pull_at TEXT,
    last_sync_at TEXT,
    last_report TEXT NOT NULL DEFAULT '',
    connected_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per synced chapter or shot: its page, and hashes of what each side last agreed on.
CREATE TABLE notion_row (
    production_id INTEGER NOT NULL REFERENCES production(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    entity TEXT NOT NULL CHECK (entity IN ('chapter', 'shot')),
    entity_id INTEGER NOT NULL,
    page_id TEXT,
    pushed_hash TEXT,
    pulled_hash TEXT,
    pushed_at TEXT,
    pulled_at TEXT,
    PRIMARY KEY (production_id, key)
);
CREATE UNIQUE INDEX notion_row_page ON notion_row (page_id) WHERE page_id IS NOT NULL;

-- Fields Notion owns for shots too (chapters already have due_date and priority).
ALTER TABLE shot ADD COLUMN due_date TEXT;
ALTER TABLE shot ADD COLUMN priority TEXT NOT NULL DEFAULT '';
