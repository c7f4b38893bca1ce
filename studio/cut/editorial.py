"""Editorial interchange: the cut as .otio, FCP XML (xmeml v4, Premiere and Resolve) and a CMX
3600 EDL, pointing at the hand-off package's ORIGINAL takes and stems (handoff.py makes it).

Clips reference `media/<name>` relative to the package, with the original's whole length as its
available range (the handles) and the cut's in and out inside it. Picture and takes' sound sit
on the sequence's frame grid; stems and sound-only takes keep their own sample timebase in the
.otio (a 6.4 s VO lasts 6.4 s, not 154 frames). Take ids, revisions, creators, providers,
models and approvals ride in clip metadata (FCP logging fields and comments in the XML); shot
notes are markers at the shot's first frame; each chapter's loudness gain is a level on its
stems and takes' sound.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

import opentimelineio as otio

from studio.cut.timeline import Entry, Timeline, track_title

MEDIA = "media"
STEM_ORDER = ("vo", "sfx", "music")  # the order editors expect their tracks in
MAX_LEVEL = 3.98109  # +12 dB: the most FCP's audio levels filter takes


@dataclass(frozen=True)
class Medium:
    """One file of the package, as probed: what the timeline files say about it."""

    name: str  # its file name under media/
    kind: str  # video | image | audio
    width: int | None = None
    height: int | None = None
    fps: Fraction | None = None
    duration: float | None = None  # seconds; None for a still
    channels: int = 0  # 0: no sound
    sample_rate: int = 0

    @property
    def url(self) -> str:
        """Relative to the package, so it can be moved to another machine."""
        return f"{MEDIA}/{quote(self.name)}"


@dataclass(frozen=True)
class Package:
    """What the timeline files describe: each entry's file, each stem's, the film's mix."""

    title: str
    version: int
    start_tc: str
    entries: list[Medium]  # one per timeline entry (a take's original, a card's segment)
    stems: list[Medium]  # one per timeline stem
    mix: Medium
    gains: dict[str, tuple[float, bool]] = field(default_factory=dict)  # label → (dB, limited)

    @property
    def name(self) -> str:
        return f"{self.title} — cut {self.version}"


def _seconds(frames: int, fps: Fraction) -> Fraction:
    return Fraction(frames) / fps


def _range(value: float, rate: float, start: float = 0) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate),
                                   otio.opentime.RationalTime(value, rate))


def clip_name(medium: Medium) -> str:
    """The file's name without its extension: the same in the bin, the timeline and the EDL."""
    return medium.name.rsplit(".", 1)[0]


def reel(entry: Entry) -> str:
    """An 8-character CMX reel an editor can read: C03S07R2, C03S07SL, CREDITS1."""
    if entry.kind == "credits":
        return f"CREDITS{entry.shot_number}"[:8]
    tail = f"R{entry.take_revision}" if entry.kind == "take" else "SL"
    return f"C{entry.chapter_number:02d}S{entry.shot_number:02d}{tail}"[:8]


def _gain(package: Package, chapter: int) -> tuple[float, bool]:
    return package.gains.get(str(chapter), (0.0, False))


def _levels(db: float) -> dict:
    """FCP's audio levels filter at `db` (a linear amplitude, at most +12 dB)."""
    level = min(10 ** (db / 20), MAX_LEVEL)
    return {"effect": {
        "name": "Audio Levels", "effectid": "audiolevels", "effectcategory": "audiolevels",
        "effecttype": "audiolevels", "mediatype": "audio",
        "parameter": {"parameterid": "level", "name": "Level", "valuemin": "0",
                      "valuemax": str(MAX_LEVEL), "value": f"{level:.6f}"}}}


def _file_media(medium: Medium, fps: Fraction) -> dict:
    """The <media> of a <file>: its real picture and sound."""
    media: dict = {}
    if medium.kind != "audio":
        rate = medium.fps or fps
        media["video"] = {"samplecharacteristics": {
            "rate": _rate(rate), "width": str(medium.width or 0),
            "height": str(medium.height or 0), "anamorphic": "FALSE",
            "pixelaspectratio": "square", "fielddominance": "none"}}
    if medium.channels:
        media["audio"] = {"samplecharacteristics": {"depth": "16",
                                                    "samplerate": str(medium.sample_rate)},
                          "channelcount": str(medium.channels)}
    return media


def _rate(fps: Fraction) -> dict:
    timebase = -(-fps.numerator // fps.denominator)  # 23.976 counts in 24s, marked NTSC
    return {"timebase": str(timebase), "ntsc": "FALSE" if fps.denominator == 1 else "TRUE"}


def _take_metadata(entry: Entry, medium: Medium, gain: tuple[float, bool]) -> dict:
    data: dict = {"shot": entry.code, "kind": entry.kind, "chapter": entry.chapter_number,
                  "description": entry.description, "owner": entry.owner, "reel": reel(entry),
                  "file": medium.name, "gain_db": gain[0], "limited": gain[1]}
    if entry.kind == "take":
        data.update({"take_id": entry.take_id, "revision": entry.take_revision,
                     "approved": True, "media_sha256": entry.media_sha256,
                     "provider": entry.provider, "model": entry.model,
                     "creator": entry.creator, "original_name": entry.media_name,
                     "source": entry.source, "prompt": entry.prompt, "seed": entry.seed,
                     "motion": entry.motion, "cost_usd": entry.cost,
                     "source_url": entry.source_url,
                     "based_on_revision": entry.based_on_revision})
    else:
        data.update({"approved": False, "reason": entry.reason})
    return data


def _fcp_fields(entry: Entry) -> dict:
    """The same facts as FCP 7 logging fields and comments (Premiere and Resolve show them;
    OpenTimelineIO's fcp_xml adapter writes and reads them as clip metadata)."""
    approved = entry.kind == "take"
    logging = {"scene": entry.code, "description": entry.description[:200],
               "lognote": (f"approved take {entry.take_id} r{entry.take_revision}" if approved
                           else entry.reason or entry.kind),
               "good": "TRUE" if approved else "FALSE"}
    comments = {"mastercomment1": f"take_id={entry.take_id if approved else ''}",
                "mastercomment2": f"approved={'yes' if approved else 'no'}",
                "mastercomment3": f"revision={entry.take_revision if approved else ''}",
                "mastercomment4": f"creator={entry.creator if approved else ''}",
                "clipcommenta": f"provider={entry.provider if approved else ''}",
                "clipcommentb": f"model={entry.model if approved else ''}"}
    if approved:
        logging["shottake"] = f"r{entry.take_revision}"
    return {"logginginfo": logging, "comments": comments}


def _reference(medium: Medium, available: otio.opentime.TimeRange, fps: Fraction
               ) -> otio.schema.ExternalReference:
    reference = otio.schema.ExternalReference(
        target_url=medium.url, available_range=available,
        metadata={"fcp_xml": {"media": _file_media(medium, fps)}})
    reference.name = medium.name  # the file's name as it reads, not as its URL is escaped
    return reference


def _available(medium: Medium, frames: int, fps: Fraction) -> otio.opentime.TimeRange:
    """The original's whole length on its own timebase (a still: as long as it is used)."""
    if medium.duration is None:
        return _range(frames, float(fps))
    if medium.kind == "audio":
        return _range(round(medium.duration * medium.sample_rate), medium.sample_rate)
    rate = medium.fps or fps
    return _range(round(Fraction(medium.duration) * rate), float(rate))


def _used_frames(entry: Entry, medium: Medium, fps: Fraction) -> int:
    """The frames of the slot the original fills (the cut holds its last frame after)."""
    if medium.duration is None:
        return entry.frames
    # A float's last digit must not cost a frame: 1.001 s at 23.976 fps is 24 frames.
    return max(1, min(entry.frames, int(Fraction(medium.duration) * fps + Fraction(1, 1000))))


def to_otio(line: Timeline, package: Package) -> otio.schema.Timeline:
    fps = line.profile.fps
    rate = float(fps)
    start = otio.opentime.from_timecode(package.start_tc, rate)
    timeline = otio.schema.Timeline(name=package.name, global_start_time=start, metadata={
        "slate": {"production": line.production_title, "version": package.version,
                  "width": line.profile.width, "height": line.profile.height,
                  "fps": str(fps), "start_timecode": package.start_tc},
        "fcp_xml": {"media": {
            "video": {"format": {"samplecharacteristics": {
                "rate": _rate(fps), "width": str(line.profile.width),
                "height": str(line.profile.height), "anamorphic": "FALSE",
                "pixelaspectratio": "square", "fielddominance": "none",
                "colordepth": "24"}}},
            "audio": {"format": {"samplecharacteristics": {"depth": "16",
                                                           "samplerate": "48000"}}}}}})
    picture = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video,
                                metadata={"fcp_xml": {"name": "Picture"}})
    takes = otio.schema.Track(name=track_title("takes"), kind=otio.schema.TrackKind.Audio,
                              metadata={"fcp_xml": {"name": track_title("takes")}})
    for entry, medium in zip(line.entries, package.entries, strict=True):
        gain = _gain(package, entry.chapter_number)
        data = _take_metadata(entry, medium, gain)
        available = _available(medium, entry.frames, fps)
        if medium.kind == "audio":  # a sound-only take: black picture, its sound on Takes
            picture.append(otio.schema.Gap(source_range=_range(entry.frames, rate)))
            used = min(Fraction(medium.duration or 0), _seconds(entry.frames, fps))
            samples = round(used * medium.sample_rate)
            takes.append(_sound_clip(medium, available, _range(samples, medium.sample_rate),
                                     data, gain, fps))
            rest = _seconds(entry.frames, fps) - Fraction(samples, medium.sample_rate)
            if rest > 0:
                takes.append(otio.schema.Gap(source_range=_range(float(rest * fps), rate)))
            continue
        used = _used_frames(entry, medium, fps)
        clip = otio.schema.Clip(
            name=clip_name(medium), media_reference=_reference(medium, available, fps),
            source_range=_range(used, rate), metadata={"slate": data,
                                                       "fcp_xml": _fcp_fields(entry)})
        if entry.notes:
            clip.markers.append(_marker(entry.notes, rate))
        picture.append(clip)
        if medium.channels:
            takes.append(_sound_clip(medium, available, _range(used, rate), data, gain, fps,
                                     fields=_fcp_fields(entry)))
        else:
            takes.append(otio.schema.Gap(source_range=_range(used, rate)))
        if used < entry.frames:  # the cut holds the original's last frame here
            picture.append(otio.schema.Gap(source_range=_range(entry.frames - used, rate)))
            takes.append(otio.schema.Gap(source_range=_range(entry.frames - used, rate)))
    timeline.tracks.append(picture)
    timeline.tracks.append(takes)
    for kind in sorted(line.stem_kinds, key=lambda k: STEM_ORDER.index(k) if k in STEM_ORDER
                       else len(STEM_ORDER)):
        timeline.tracks.append(_stem_track(line, package, kind))
    mix = otio.schema.Track(name=track_title("mix"), kind=otio.schema.TrackKind.Audio,
                            metadata={"fcp_xml": {"name": track_title("mix"),
                                                  "enabled": "FALSE"}})
    mix.enabled = False  # the film's own mix, for reference: the stems above make it
    whole = _range(line.frames, rate)
    mix.append(otio.schema.Clip(
        name=clip_name(package.mix), media_reference=_reference(package.mix, whole, fps),
        source_range=whole, metadata={"slate": {"kind": "mix", "file": package.mix.name},
                                      "fcp_xml": {"sourcetrack": {"mediatype": "audio",
                                                                  "trackindex": "1"}}}))
    timeline.tracks.append(mix)
    return timeline


def _marker(note: str, rate: float) -> otio.schema.Marker:
    """A shot's note at its first frame: the name is its first line, the comment all of it."""
    marker = otio.schema.Marker(
        name=note.splitlines()[0][:80] if note.strip() else "note",
        marked_range=_range(0, rate), color=otio.schema.MarkerColor.YELLOW,
        metadata={"slate": {"note": note}, "fcp_xml": {"comment": note[:1000]}})
    marker.comment = note
    return marker


def _sound_clip(medium: Medium, available: otio.opentime.TimeRange,
                used: otio.opentime.TimeRange, data: dict, gain: tuple[float, bool],
                fps: Fraction, fields: dict | None = None) -> otio.schema.Clip:
    """A take's sound (or a stem) at its chapter's gain."""
    clip = otio.schema.Clip(
        name=clip_name(medium), media_reference=_reference(medium, available, fps),
        source_range=used,
        metadata={"slate": data, "fcp_xml": {
            **(fields or {}), "sourcetrack": {"mediatype": "audio", "trackindex": "1"},
            "filter": _levels(gain[0])}})
    clip.effects.append(otio.schema.Effect(
        name="Chapter gain", effect_name="AudioLevels",
        metadata={"slate": {"gain_db": gain[0], "limited": gain[1]}}))
    return clip


def _stem_track(line: Timeline, package: Package, kind: str) -> otio.schema.Track:
    fps = line.profile.fps
    title = track_title(kind)
    track = otio.schema.Track(name=title, kind=otio.schema.TrackKind.Audio,
                              metadata={"fcp_xml": {"name": title}})
    at = Fraction(0)  # seconds
    for stem, medium in zip(line.stems, package.stems, strict=True):
        if stem.kind != kind:
            continue
        begins = _seconds(stem.start_frame, fps)
        if begins > at:
            track.append(otio.schema.Gap(source_range=_range(float((begins - at) * fps),
                                                             float(fps))))
        # The cut plays a stem up to its chapter's end or its own, whichever comes first.
        length = _seconds(stem.frames, fps)
        if medium.duration:
            length = min(length, Fraction(medium.duration))
        samples = round(length * medium.sample_rate)
        gain = _gain(package, stem.chapter_number)
        data = {"chapter": stem.chapter_number, "stem": kind, "file": medium.name,
                "media_sha256": stem.media_sha256, "gain_db": gain[0], "limited": gain[1]}
        track.append(_sound_clip(medium, _available(medium, stem.frames, fps),
                                 _range(samples, medium.sample_rate), data, gain, fps))
        at = begins + Fraction(samples, medium.sample_rate)
    return track


def files(directory: Path, stem: str = "cut") -> dict[str, Path]:
    return {"otio": directory / f"{stem}.otio", "fcpxml": directory / f"{stem}.xml",
            "edl": directory / f"{stem}.edl"}


# Written in two worker processes at once: the FCP XML alone costs about what the other two do.
PARTS = (("fcpxml",), ("otio", "edl"))


def write_all(line: Timeline, package: Package, directory: Path,
              stem: str = "cut", kinds: tuple[str, ...] = ("otio", "fcpxml", "edl")
              ) -> dict[str, Path]:
    """Write <stem>.otio (for OTIO 0.17+), <stem>.xml (xmeml v4) and <stem>.edl (or the
    `kinds` of them asked for)."""
    timeline = to_otio(line, package)
    written = {kind: path for kind, path in files(directory, stem).items() if kind in kinds}
    if "otio" in written:
        otio.adapters.write_to_file(
            timeline, str(written["otio"]), adapter_name="otio_json",
            target_schema_versions=otio.versioning.fetch_map("OTIO_CORE", "0.17.0"))
    if "fcpxml" in written:
        written["fcpxml"].write_text(fcp_xml(timeline), encoding="utf-8")
    if "edl" in written:
        written["edl"].write_text(edl(timeline), encoding="utf-8")
    return written


# --- FCP XML --------------------------------------------------------------------------------

def on_frame_grid(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy whose sample-timed clips count in the sequence's frames, as xmeml must: each
    ends on the last whole frame of its sound (none claims sound its file lacks), and every
    item still starts on the frame it starts on in the .otio."""
    copy = timeline.deepcopy()
    rate = copy.global_start_time.rate

    def frame(time: otio.opentime.RationalTime) -> int:
        return round(time.rescaled_to(rate).value)

    for track in copy.tracks:
        items = list(track)
        starts = [frame(track.range_of_child_at_index(i).start_time) for i in range(len(items))]
        end = frame(track.duration())
        kept: list[otio.core.Composable] = []
        at = 0
        for i, item in enumerate(items):
            if isinstance(item, otio.schema.Gap):
                continue  # made again below, to reach the next item's frame
            if starts[i] > at:
                kept.append(otio.schema.Gap(source_range=_range(starts[i] - at, rate)))
                at = starts[i]
            used = item.source_range
            if isinstance(item, otio.schema.Clip) and used.duration.rate != rate:
                frames = max(1, int(used.duration.rescaled_to(rate).value + 1e-6))
                item.source_range = _range(frames, rate, frame(used.start_time))
                ref = item.media_reference
                if ref.available_range is not None:
                    whole = ref.available_range.duration.rescaled_to(rate).value
                    ref.available_range = _range(int(whole + 1e-6), rate)
            kept.append(item)
            at += frame(item.source_range.duration)
        if end > at:
            kept.append(otio.schema.Gap(source_range=_range(end - at, rate)))
        del track[:]
        track.extend(kept)
    return copy


def fcp_xml(timeline: otio.schema.Timeline) -> str:
    """xmeml v4 from the fcp_xml adapter's sequence writer, finished by _finish_xmeml."""
    fcp = otio.adapters.from_name("fcp_xml").module()
    grid = on_frame_grid(timeline)
    root = ET.Element("xmeml", version="4")
    project = ET.SubElement(root, "project")
    ET.SubElement(project, "name").text = grid.name
    children = ET.SubElement(project, "children")
    whole = otio.opentime.TimeRange(start_time=grid.global_start_time,
                                    duration=grid.duration())
    children.append(fcp._build_sequence_for_timeline(grid, whole, {}))
    _finish_xmeml(root)
    ET.indent(root, space="    ")
    # The adapter's own writer re-parses with minidom to indent, and writes no DOCTYPE.
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n'
            + ET.tostring(root, encoding="unicode") + "\n")


# The order FCP 7's DTD gives, which Premiere and Resolve read: the adapter writes metadata
# first, and OpenTimelineIO keeps metadata keys sorted. Children not listed keep their place
# after these.
_ORDER: dict[str, tuple[str, ...]] = {
    "sequence": ("name", "duration", "rate", "timecode", "media"),
    "clipitem": ("name", "duration", "rate", "start", "end", "in", "out", "enabled", "file",
                 "sourcetrack", "filter", "marker", "link", "comments", "logginginfo"),
    "file": ("name", "pathurl", "rate", "duration", "timecode", "media"),
    "media": ("video", "audio"),
    "video": ("samplecharacteristics", "format", "track"),
    "audio": ("samplecharacteristics", "channelcount", "format", "outputs", "track"),
    "track": ("name", "enabled"),
    "samplecharacteristics": ("rate", "width", "height", "anamorphic", "pixelaspectratio",
                              "fielddominance", "colordepth", "depth", "samplerate"),
    "rate": ("timebase", "ntsc"),
    "marker": ("comment", "name", "in", "out"),
    "effect": ("name", "effectid", "effectcategory", "effecttype", "mediatype", "parameter"),
    "parameter": ("parameterid", "name", "valuemin", "valuemax", "value"),
    "sourcetrack": ("mediatype", "trackindex"),
    "comments": ("mastercomment1", "mastercomment2", "mastercomment3", "mastercomment4",
                 "clipcommenta", "clipcommentb"),
    "logginginfo": ("description", "scene", "shottake", "lognote", "good"),
}


def _finish_xmeml(root: ET.Element) -> None:
    """What the fcp_xml adapter cannot write, added in this one place: the adapter drops
    <link> elements and writes each clipitem's <rate> twice; Premiere needs the picture and
    sound of a take linked, and children in the DTD's order."""
    for clipitem in root.iter("clipitem"):
        for extra in clipitem.findall("rate")[1:]:
            clipitem.remove(extra)
    sequence = root.find("./project/children/sequence")
    picture = sequence.find("./media/video/track") if sequence is not None else None
    sound = sequence.find("./media/audio/track") if sequence is not None else None
    if picture is None or sound is None:  # the takes' own sound is the first audio track
        picture, sound = ET.Element("track"), ET.Element("track")
    heard = {(c.find("file").get("id"), c.findtext("start")): (i, c)
             for i, c in enumerate(sound.findall("clipitem"), 1) if c.find("file") is not None}
    group = 0
    for index, clipitem in enumerate(picture.findall("clipitem"), 1):
        file_e = clipitem.find("file")
        partner = heard.get((file_e.get("id"), clipitem.findtext("start"))) \
            if file_e is not None else None
        if partner is None:
            continue
        group += 1
        members = [(clipitem, "video", index, None), (partner[1], "audio", partner[0], 1)]
        for holder, _, _, _ in members:
            for linked, mediatype, clipindex, groupindex in members:
                link = ET.Element("link")
                ET.SubElement(link, "linkclipref").text = linked.get("id")
                ET.SubElement(link, "mediatype").text = mediatype
                ET.SubElement(link, "trackindex").text = "1"
                ET.SubElement(link, "clipindex").text = str(clipindex)
                if groupindex is not None:
                    ET.SubElement(link, "groupindex").text = str(groupindex)
                holder.append(link)
    for element in root.iter():
        order = _ORDER.get(element.tag)
        if order and len(element) > 1:
            rank = {tag: n for n, tag in enumerate(order)}
            element[:] = sorted(element, key=lambda c: rank.get(c.tag, len(order)))


# --- EDL ------------------------------------------------------------------------------------

def edl(timeline: otio.schema.Timeline) -> str:
    """CMX 3600, written here: the cmx_3600 adapter writes no FCM line, starts the record at
    00:00:00:00 whatever the timeline's start, puts each marker at its source time and writes
    no audio events. A take with sound is one AA/V event; a sound-only take an AA event; the
    stems do not fit CMX's audio channels (they are in the .otio and the XML)."""
    rate = timeline.global_start_time.rate
    start = timeline.global_start_time

    def tc(time: otio.opentime.RationalTime) -> str:
        frames = round(time.rescaled_to(rate).value)
        return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, rate), rate,
                                         drop_frame=False)

    picture, takes = timeline.tracks[0], timeline.tracks[1]
    heard = {round(takes.range_of_child_at_index(i).start_time.rescaled_to(rate).value): c
             for i, c in enumerate(takes) if isinstance(c, otio.schema.Clip)}
    events: list[tuple[float, str, otio.schema.Clip, otio.opentime.TimeRange]] = []
    for i, clip in enumerate(picture):
        if isinstance(clip, otio.schema.Clip):
            at = picture.range_of_child_at_index(i)
            sound = heard.pop(round(at.start_time.rescaled_to(rate).value), None)
            events.append((at.start_time.value, "AA/V" if sound is not None else "V", clip,
                           at))
    for i, clip in enumerate(takes):
        at = takes.range_of_child_at_index(i)
        if isinstance(clip, otio.schema.Clip) and \
                round(at.start_time.rescaled_to(rate).value) in heard:
            events.append((at.start_time.rescaled_to(rate).value, "AA", clip, at))
    events.sort(key=lambda e: e[0])
    lines = [f"TITLE: {timeline.name}", "FCM: NON-DROP FRAME", ""]
    for number, (_, channels, clip, at) in enumerate(events, 1):
        used = clip.source_range
        frames = round(at.duration.rescaled_to(rate).value)
        source_in = round(used.start_time.rescaled_to(rate).value)
        record_in = round(at.start_time.rescaled_to(rate).value)
        source = otio.opentime.RationalTime(source_in, rate)
        record = start + otio.opentime.RationalTime(record_in, rate)
        length = otio.opentime.RationalTime(frames, rate)
        name = clip.metadata["slate"].get("reel") or "AX"
        lines.append(f"{number:03d}  {name:<8} {channels:<5} C        {tc(source)} "
                     f"{tc(source + length)} {tc(record)} {tc(record + length)}")
        lines.append(f"* FROM CLIP NAME:  {clip.name}")
        lines.append(f"* FROM FILE: {clip.media_reference.target_url}")
        for marker in clip.markers:
            at_marker = record + (marker.marked_range.start_time.rescaled_to(rate)
                                  - used.start_time.rescaled_to(rate))
            note = " ".join(marker.name.split())
            lines.append(f"* LOC: {tc(at_marker)} YELLOW  {note}")
        lines.append("")
    return "\n".join(lines)
