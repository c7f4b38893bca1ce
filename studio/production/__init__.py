"""The production: set-up, the board, claims, shots, shot lists, people, characters, schedule.

Owns who holds each chapter and what each shot is. May import storage/, studio's shared
modules (app, errors, media, mediastore, units, waiting), studio.ops and studio.notion.mapping
(which fields Notion owns); never generation, review or cut.
"""
