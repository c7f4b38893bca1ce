"""Running Slate for real: settings, logging, health, metrics, backups, memory.

The lowest of studio's packages: may import storage/ and studio's shared modules (app,
errors, waiting), never a domain package (production, generation, review, cut, notion).
"""
