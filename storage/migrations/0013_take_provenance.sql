-- Provenance of takes made in creators' own tools: the tool's job page, and the take a take
-- was made from (an upscale or an animation of another take of the shot).
ALTER TABLE take ADD COLUMN source_url TEXT NOT NULL DEFAULT '';
ALTER TABLE take ADD COLUMN based_on INTEGER REFERENCES take(id);
CREATE INDEX take_based_on ON take (based_on);
