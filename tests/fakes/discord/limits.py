"""Discord's documented limits, checked the way Discord checks them (400, code 50035).

Each check returns a list of `path: problem` strings; empty means Discord would accept.
"""

from __future__ import annotations

import re
from typing import Any

CONTENT = 2000
EMBEDS = 10
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBEDS_TOTAL = 6000
ACTION_ROWS = 5
ROW_BUTTONS = 5
CUSTOM_ID = 100
BUTTON_LABEL = 80
SELECT_OPTIONS = 25
CHOICES = 25
COMMAND_OPTIONS = 25
UPLOAD_BYTES = 10 * 1024 * 1024
PINS = 250  # pinned messages per channel (Discord raised it from 50 in 2025)
ANSWER_DEADLINE_S = 3.0
TOKEN_LIFE_S = 15 * 60.0

_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def _len(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def check_embed(embed: dict[str, Any], where: str) -> tuple[list[str], int]:
    """Problems with one embed, and its character count toward the 6000 total."""
    problems: list[str] = []
    total = 0
    for key, limit in (("title", EMBED_TITLE), ("description", EMBED_DESCRIPTION)):
        size = _len(embed.get(key))
        total += size
        if size > limit:
            problems.append(f"{where}.{key}: must be {limit} or fewer in length ({size})")
    footer = _len((embed.get("footer") or {}).get("text"))
    author = _len((embed.get("author") or {}).get("name"))
    total += footer + author
    if footer > FOOTER:
        problems.append(f"{where}.footer.text: must be {FOOTER} or fewer in length")
    if author > AUTHOR:
        problems.append(f"{where}.author.name: must be {AUTHOR} or fewer in length")
    fields = embed.get("fields") or []
    if len(fields) > EMBED_FIELDS:
        problems.append(f"{where}.fields: must be {EMBED_FIELDS} or fewer in length")
    for i, field in enumerate(fields):
        name, value = _len(field.get("name")), _len(field.get("value"))
        total += name + value
        if not 0 < name <= FIELD_NAME:
            problems.append(f"{where}.fields.{i}.name: must be 1 to {FIELD_NAME} in length")
        if not 0 < value <= FIELD_VALUE:
            problems.append(f"{where}.fields.{i}.value: must be 1 to {FIELD_VALUE} in length")
    return problems, total


def check_components(rows: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if len(rows) > ACTION_ROWS:
        problems.append(f"components: must be {ACTION_ROWS} or fewer in length")
    for r, row in enumerate(rows):
        if row.get("type") != 1:
            problems.append(f"components.{r}: top-level components must be action rows")
            continue
        children = row.get("components") or []
        if not children or len(children) > ROW_BUTTONS:
            problems.append(f"components.{r}.components: must be 1 to {ROW_BUTTONS} in length")
        for c, child in enumerate(children):
            where = f"components.{r}.components.{c}"
            custom_id = child.get("custom_id")
            if child.get("type") == 2 and child.get("style") == 5:
                if not child.get("url"):
                    problems.append(f"{where}.url: a link button needs a url")
            elif not custom_id or len(custom_id) > CUSTOM_ID:
                problems.append(f"{where}.custom_id: must be 1 to {CUSTOM_ID} in length")
            if _len(child.get("label")) > BUTTON_LABEL:
                problems.append(f"{where}.label: must be {BUTTON_LABEL} or fewer in length")
            if len(child.get("options") or []) > SELECT_OPTIONS:
                problems.append(f"{where}.options: must be {SELECT_OPTIONS} or fewer in length")
    return problems


def too_large(upload_bytes: int, upload_limit: int = UPLOAD_BYTES) -> bool:
    """Discord refuses oversized uploads before reading the form: 413, code 40005."""
    return upload_bytes > upload_limit


TOO_LARGE = {"message": "Request entity too large", "code": 40005}


def check_message(payload: dict[str, Any], *, files: int = 0,
                  partial: bool = False) -> list[str]:
    """A message create (or, with partial=True, an edit) as Discord validates it."""
    problems: list[str] = []
    content = payload.get("content")
    if _len(content) > CONTENT:
        problems.append(f"content: must be {CONTENT} or fewer in length ({len(content)})")
    embeds = payload.get("embeds") or []
    if len(embeds) > EMBEDS:
        problems.append(f"embeds: must be {EMBEDS} or fewer in length")
    total = 0
    for i, embed in enumerate(embeds):
        found, size = check_embed(embed, f"embeds.{i}")
        problems += found
        total += size
    if total > EMBEDS_TOTAL:
        problems.append(f"embeds: all embeds together must be {EMBEDS_TOTAL} or fewer "
                        f"characters ({total})")
    problems += check_components(payload.get("components") or [])
    if not partial and not (content or embeds or files or payload.get("components")
                            or payload.get("sticker_ids") or payload.get("poll")):
        problems.append("Cannot send an empty message")
    return problems


def check_choices(choices: list[dict[str, Any]]) -> list[str]:
    problems = []
    if len(choices) > CHOICES:
        problems.append(f"data.choices: must be {CHOICES} or fewer in length ({len(choices)})")
    for i, choice in enumerate(choices):
        if not 0 < _len(choice.get("name")) <= 100:
            problems.append(f"data.choices.{i}.name: must be 1 to 100 in length")
        value = choice.get("value")
        if isinstance(value, str) and len(value) > 100:
            problems.append(f"data.choices.{i}.value: must be 100 or fewer in length")
    return problems


def check_command(command: dict[str, Any], where: str = "") -> list[str]:
    problems = []
    name = command.get("name") or ""
    if not _COMMAND_NAME.match(name) or name != name.lower():
        problems.append(f"{where}name: 1-32 lowercase characters ({name!r})")
    if command.get("type", 1) == 1 and not 0 < _len(command.get("description")) <= 100:
        problems.append(f"{where}description: must be 1 to 100 in length ({name})")
    options = command.get("options") or []
    if len(options) > COMMAND_OPTIONS:
        problems.append(f"{where}options: must be {COMMAND_OPTIONS} or fewer in length")
    for i, option in enumerate(options):
        problems += check_command(option, f"{where}options.{i}.")
        if len(option.get("choices") or []) > CHOICES:
            problems.append(f"{where}options.{i}.choices: must be {CHOICES} or fewer")
    return problems
