"""Characters: the names a prompt may mention with @Name, and what they stand for."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now


@dataclass(frozen=True)
class Character:
    id: int
    production_id: int
    name: str
    trigger_words: str
    lora: str
    reference_images: str
    voice_id: str
    created_at: str = ""

    @property
    def references(self) -> list[str]:
        return list(json.loads(self.reference_images))


async def create(conn: Conn, production_id: int, name: str, *, trigger_words: str, lora: str,
                 reference_images: list[str], voice_id: str) -> Character:
    cursor = await conn.execute(
        "INSERT INTO character (production_id, name, trigger_words, lora, reference_images,"
        " voice_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (production_id, name, trigger_words, lora, json.dumps(reference_images), voice_id,
         now()))
    made = await fetch_one(conn, Character, "SELECT * FROM character WHERE id = ?",
                           (cursor.lastrowid,))
    assert made is not None
    return made


async def by_name(conn: Conn, production_id: int, name: str) -> Character | None:
    return await fetch_one(conn, Character, "SELECT * FROM character WHERE production_id = ?"
                                            " AND name = ? COLLATE NOCASE", (production_id, name))


async def all_of(conn: Conn, production_id: int) -> list[Character]:
    return await fetch_all(conn, Character, "SELECT * FROM character WHERE production_id = ?"
                                            " ORDER BY name COLLATE NOCASE", (production_id,))
