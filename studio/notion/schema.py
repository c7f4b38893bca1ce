"""The Chapters and Shots databases: create them with the right columns, or check existing ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.notion.client import NotionApi
from studio.notion.mapping import (
    CHAPTER,
    FIELDS,
    PRIORITY_OPTIONS,
    SHOT,
    STATUS_OPTIONS,
    Field,
)

_KIND_TYPE = {"title": "title", "rich_text": "rich_text", "link_text": "rich_text",
              "select": "select", "date": "date", "number": "number", "relation": "relation"}


def property_schema(f: Field, chapters_data_source: str | None = None) -> dict:
    kind = f.kind
    if kind == "select":
        options = STATUS_OPTIONS if f.name == "status" else PRIORITY_OPTIONS
        return {"select": {"options": [{"name": name} for name in options]}}
    if kind == "number":
        return {"number": {"format": "number"}}
    if kind == "relation":
        return {"relation": {"data_source_id": chapters_data_source, "single_property": {}}}
    return {_KIND_TYPE[kind]: {}}


def database_schema(entity: str, chapters_data_source: str | None = None) -> dict:
    return {f.prop: property_schema(f, chapters_data_source) for f in FIELDS[entity]}


@dataclass
class SchemaCheck:
    """What an existing data source lacks for the sync, in words a producer can act on."""

    entity: str
    title_property: str = "Name"
    missing: list[Field] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.wrong

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append("lacks " + ", ".join(f"{f.prop} ({_KIND_TYPE[f.kind]})"
                                              for f in self.missing))
        if self.wrong:
            parts.append("; ".join(self.wrong))
        return f"the {self.entity.capitalize()}s database " + "; ".join(parts)


def check(entity: str, data_source: dict, chapters_data_source: str | None = None) -> SchemaCheck:
    props: dict = data_source.get("properties", {})
    result = SchemaCheck(entity)
    titles = [name for name, p in props.items() if p.get("type") == "title"]
    if titles:
        result.title_property = titles[0]
    for f in FIELDS[entity]:
        if f.kind == "title":
            continue
        found = props.get(f.prop)
        expected = _KIND_TYPE[f.kind]
        if found is None:
            result.missing.append(f)
        elif found.get("type") != expected:
            result.wrong.append(f"{f.prop} is a {found.get('type')} column, not {expected}")
        elif f.kind == "relation" and chapters_data_source:
            target = (found.get("relation") or {}).get("data_source_id", "")
            if target.replace("-", "") != chapters_data_source.replace("-", ""):
                result.wrong.append(f"{f.prop} does not point at the Chapters database")
    return result


async def add_missing(api: NotionApi, data_source_id: str, result: SchemaCheck,
                      chapters_data_source: str | None) -> None:
    properties = {f.prop: property_schema(f, chapters_data_source) for f in result.missing}
    if properties:
        await api.update_data_source(data_source_id, properties)
    result.missing = []


async def data_source_of(api: NotionApi, database_id: str) -> tuple[str, dict]:
    """The database's (first) data source id and its schema."""
    database = await api.database(database_id)
    sources = database.get("data_sources") or []
    if not sources:
        raise LookupError("the database has no data source")
    source_id = sources[0]["id"]
    return source_id, await api.data_source(source_id)


__all__ = ["CHAPTER", "SHOT", "SchemaCheck", "add_missing", "check", "data_source_of",
           "database_schema"]
