-- Each production's cuts in their own folder: DATA_DIR/cuts/<version> becomes
-- DATA_DIR/cuts/production-<id>/<version> (studio/cut/publish.py moves the folders at start-up).
UPDATE cut
SET path = substr(path, 1, length(path) - length(printf('%04d', version)))
           || 'production-' || production_id || '/' || printf('%04d', version)
WHERE path != ''
  AND substr(path, -length('/cuts/' || printf('%04d', version)))
      = '/cuts/' || printf('%04d', version);
