"""Loopback stand-ins for the hosted generation providers, faithful to their documented shapes.

Each fake counts submissions and can be scripted to misbehave: 429 with Retry-After, 5xx,
FAILED tasks, THROTTLED waits, slow tasks, expired output URLs, malformed answers.
"""
