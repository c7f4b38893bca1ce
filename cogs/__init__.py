"""Slate's Discord face: one cog per feature, each a thin menu over studio/."""
