-- Operations: one row that the readiness probe rewrites, proving the database takes writes.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
