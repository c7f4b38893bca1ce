"""Slate's storage: aiosqlite, numbered migrations, one repository module per aggregate."""

from storage.db import Database, SchemaTooNew

__all__ = ["Database", "SchemaTooNew"]
