"""A loopback fake Discord (REST + gateway) for end-to-end tests with the real discord.py."""

from tests.fakes.discord.server import (
    Attachment,
    Channel,
    FakeDiscord,
    InteractionFailed,
    Rejected,
    Reply,
    Role,
    User,
    UserSession,
)

__all__ = ["Attachment", "Channel", "FakeDiscord", "InteractionFailed", "Rejected", "Reply",
           "Role", "User", "UserSession"]
