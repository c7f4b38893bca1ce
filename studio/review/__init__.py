"""Review: ballots (votes as reactions), vote windows, approvals and retakes, the review queue.

Owns how a candidate take becomes the shot's approved take. Its durable timers (timers.py)
close vote windows that end while the bot is down. May import storage/, studio's shared
modules, studio.ops and studio.production; never generation or cut.
"""
