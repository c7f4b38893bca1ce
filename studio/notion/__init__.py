"""The Notion sync: the schedule mirrored in Notion for producers, both ways.

mapping.py (what a chapter and a shot look like as Notion rows, light: production's rules use
it) · schema.py (the databases Slate makes) · client.py (the API, its limits and retries) ·
sync.py (NotionService: connect, pull, push, the automatic triggers).
"""
