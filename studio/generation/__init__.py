"""Generation: a request for a shot becomes a durable job; a finished job becomes a take.

Owns requests, the job queue, job cards, take actions (re-roll, upscale, animate), takes and
stems as they come in (generated or uploaded), and the providers behind one interface. May
import storage/, studio's shared modules, studio.ops, studio.production and studio.cut.previews
(a take's thumbnail); never review.
"""
