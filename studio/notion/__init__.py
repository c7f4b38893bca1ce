"""The Notion sync: the schedule mirrored in Notion for producers, both ways."""

from studio.notion.sync import ConnectResult, NotionService, SyncReport

__all__ = ["ConnectResult", "NotionService", "SyncReport"]
