-- One sync per production at a time across processes (the bot and a shell's notion-sync):
-- whoever holds an unexpired lease syncs; the other waits, so no row is created twice.
CREATE TABLE notion_sync_lease (
    production_id INTEGER PRIMARY KEY REFERENCES production(id) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    lease_until TEXT NOT NULL
);
