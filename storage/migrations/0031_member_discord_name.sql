-- A member's Discord username beside the display name kept in `name`: the shell resolves
-- `--as maya` and `assign 4 maya` by either, instead of making a second, shell-only Maya.
ALTER TABLE member ADD COLUMN discord_name TEXT;
