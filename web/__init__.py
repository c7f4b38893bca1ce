"""The HTTP face: the board, the screening room, files with Range, health and metrics.

Like cogs/, a route reads the request, checks the signed link, calls one studio function
(studio/screening.py) and renders what it returns. No SQL, no business rule, no discord here.
May import: studio, aiohttp. Never imported by studio/ or cogs/.
"""
