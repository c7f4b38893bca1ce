"""The cut: the approved takes (slates where there are none) stitched into one verified film.

A build runs these stages, in this order (build.py calls them):
  plan.py         the production read into a timeline (timeline.py: its plain types), where each
                  segment will be, slates and credits cards (slates.py)
  segments.py     each entry normalized once to the profile, cached (segment_encode.py does it
                  in worker processes, several segments a trip; avc.py converts its H.264 to
                  the MP4 form; seal.py seals each cache entry)
  reels.py        each chapter's pictures read once into H.264 samples, as soon as its
                  segments are made (segment_read.py reads a segment by its own tables)
  soundtrack.py   the sound: stems and takes mixed per chapter, loudness.py's two passes,
                  encoded to AAC pieces kept in the MP4's own form (adts.py)
  film.py         the film written from reels and sound (mp4.py), verified (each chunk's
                  first and last sample read back through ffmpeg), a preview made
  publish.py      the folder renamed into place, recorded, then `latest`; retention (a cut
                  past it renamed away, removed in a thread); changelog.py
  handoff.py      then, beside the published cut: the editor's package, the original media
                  and editorial.py's OTIO, FCP XML and EDL (with the gains the mix was made at)
layout.py says where each production's cuts and caches live; liveness.py settles a build whose
process died.
previews.py makes takes' thumbnails and short previews for Discord; screening.py is what the
screening room shows (read-only, but that a cut's package not written yet is written when asked
for).
May import storage/, studio's shared modules and studio.ops; only screening.py reads review's
tallies and generation's take files (neither imports the cut's build).
"""
