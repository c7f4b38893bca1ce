-- Review's shot marks were never read: the Notion push and the cut see approvals themselves.
DROP TABLE IF EXISTS shot_mark;
