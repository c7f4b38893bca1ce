"""Autocomplete for chapter and shot options: only what the user may act on, ≤ 25 choices."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from cogs.common import count, has_producer_role, production_here, reference, studio_of
from studio.errors import SlateError
from studio.production import pickers

Complete = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice]]]


def counted(complete: Complete) -> Complete:
    """Count each autocomplete in the interaction metrics, as commands are counted."""
    @functools.wraps(complete)
    async def wrapper(interaction: discord.Interaction, typed: str
                      ) -> list[app_commands.Choice]:
        try:
            found = await complete(interaction, typed)
        except Exception:
            count(interaction, "error")
            raise
        count(interaction, "ok")
        return found
    return wrapper


def chapters(action: str) -> Complete:
    @counted
    async def complete(interaction: discord.Interaction, typed: str
                       ) -> list[app_commands.Choice[int]]:
        try:
            prod = await production_here(interaction)
            found = await pickers.chapters_for(studio_of(interaction).db, prod,
                                               interaction.user.id,
                                               has_producer_role(interaction, prod), action,
                                               typed)
        except SlateError:
            return []
        except Exception as exc:
            reference("autocomplete", exc)
            return []
        return [app_commands.Choice(name=c.name, value=int(c.value)) for c in found]
    return complete


def shots(action: str) -> Complete:
    @counted
    async def complete(interaction: discord.Interaction, typed: str
                       ) -> list[app_commands.Choice[str]]:
        try:
            prod = await production_here(interaction)
            found = await pickers.shots_for(studio_of(interaction).db, prod,
                                            interaction.user.id,
                                            has_producer_role(interaction, prod), action, typed)
        except SlateError:
            return []
        except Exception as exc:
            reference("autocomplete", exc)
            return []
        return [app_commands.Choice(name=c.name, value=str(c.value)) for c in found]
    return complete
