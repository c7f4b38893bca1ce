"""Slate's production engine: importable and usable without discord.py."""
