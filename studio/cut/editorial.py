"""Editorial interchange: the cut as .otio, FCP XML (Premiere, Resolve) and a CMX 3600 EDL.

Clips point at the normalized segments the film was joined from (every one the same format,
so an editor relinks nothing); take ids, revisions and approvals ride in clip metadata and
shot notes become markers.
"""

from __future__ import annotations

import collections
import xml.etree.ElementTree as ET
from pathlib import Path

import opentimelineio as otio

from studio.cut.timeline import Entry, Timeline, track_title


def _range(frames: int, rate: float, start: int = 0) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate),
                                   otio.opentime.RationalTime(frames, rate))


def _clip_name(entry: Entry) -> str:
    if entry.kind == "take":
        return f"{entry.code} r{entry.take_revision}"
    if entry.kind == "credits":
        return entry.code  # "credits", or "credits-1", "credits-2"… when they take several cards
    return f"{entry.code} slate"


def _metadata(entry: Entry) -> dict:
    data: dict = {"shot": entry.code, "kind": entry.kind, "chapter": entry.chapter_number,
                  "description": entry.description, "owner": entry.owner}
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
    return {"slate": data, "fcp_xml": _fcp_fields(entry)}


def _fcp_fields(entry: Entry) -> dict:
    """The same facts as FCP 7 XML logging fields and comments (Premiere and Resolve show them;
    OpenTimelineIO's fcp_xml adapter writes and reads them as clip metadata)."""
    approved = entry.kind == "take"
    logging = {"scene": entry.code, "description": entry.description[:200],
               "lognote": (f"approved take {entry.take_id} r{entry.take_revision}" if approved
                           else entry.reason or entry.kind)}
    comments = {"mastercomment1": f"take_id={entry.take_id if approved else ''}",
                "mastercomment2": f"approved={'yes' if approved else 'no'}",
                "mastercomment3": f"revision={entry.take_revision if approved else ''}",
                "mastercomment4": f"owner={entry.owner}"}
    if approved:
        logging["shottake"] = f"r{entry.take_revision}"
    return {"logginginfo": logging, "comments": comments}


def to_otio(line: Timeline, segments: list[Path], stem_files: list[Path]) -> otio.schema.Timeline:
    rate = float(line.profile.fps)
    timeline = otio.schema.Timeline(name=line.production_title,
                                    global_start_time=otio.opentime.RationalTime(0, rate))
    video = otio.schema.Track(name="Picture", kind=otio.schema.TrackKind.Video)
    takes_audio = otio.schema.Track(name="Takes", kind=otio.schema.TrackKind.Audio)
    urls: dict[Path, str] = {}  # a segment used by many shots is resolved once
    for entry, segment in zip(line.entries, segments, strict=True):
        url = urls.get(segment) or urls.setdefault(segment, segment.resolve().as_uri())
        clip = otio.schema.Clip(
            name=_clip_name(entry),
            media_reference=otio.schema.ExternalReference(
                target_url=url, available_range=_range(entry.frames, rate)),
            source_range=_range(entry.frames, rate),
            metadata=_metadata(entry))
        # The takes' sound is the same clip: copied in OTIO's C++, not converted again.
        takes_audio.append(clip.deepcopy())
        if entry.notes:
            clip.markers.append(otio.schema.Marker(
                name=entry.notes[:200], marked_range=_range(1, rate),
                color=otio.schema.MarkerColor.YELLOW, metadata={"slate": {"note": True}}))
        video.append(clip)
    timeline.tracks.append(video)
    timeline.tracks.append(takes_audio)
    for kind in line.stem_kinds:
        track = otio.schema.Track(name=track_title(kind), kind=otio.schema.TrackKind.Audio)
        at = 0
        for stem, path in zip(line.stems, stem_files, strict=True):
            if stem.kind != kind:
                continue
            if stem.start_frame > at:
                track.append(otio.schema.Gap(source_range=_range(stem.start_frame - at, rate)))
            # The cut plays a stem up to its chapter's end or its own, whichever comes first.
            length = stem.frames
            if stem.media_duration:
                length = max(1, min(length, round(stem.media_duration * rate)))
            track.append(otio.schema.Clip(
                name=f"chapter {stem.chapter_number} {kind}",
                media_reference=otio.schema.ExternalReference(
                    target_url=path.resolve().as_uri(),
                    available_range=_range(length, rate)),
                source_range=_range(length, rate),
                metadata={"slate": {"chapter": stem.chapter_number, "stem": kind,
                                    "media_sha256": stem.media_sha256}}))
            at = stem.start_frame + length
        timeline.tracks.append(track)
    return timeline


def files(directory: Path, stem: str = "cut") -> dict[str, Path]:
    return {"otio": directory / f"{stem}.otio", "fcpxml": directory / f"{stem}.xml",
            "edl": directory / f"{stem}.edl"}


PARTS = ("fcpxml", "otio+edl")  # written side by side: about the same work each


def write_all(line: Timeline, segments: list[Path], stem_files: list[Path],
              directory: Path, stem: str = "cut") -> dict[str, Path]:
    """Write <stem>.otio, <stem>.xml (FCP 7 XML) and <stem>.edl (picture only)."""
    for part in PARTS:
        write_part(part, line, segments, stem_files, directory, stem)
    return files(directory, stem)


def write_part(part: str, line: Timeline, segments: list[Path], stem_files: list[Path],
               directory: Path, stem: str = "cut") -> None:
    """One of PARTS: the FCP XML, or the .otio and the EDL (each builds the OTIO timeline,
    a fifth of the work, so the two can run in two processes at once)."""
    timeline = to_otio(line, segments, stem_files)
    written = files(directory, stem)
    if part == "fcpxml":
        written["fcpxml"].write_text(fcp_xml(timeline), encoding="utf-8")
        return
    otio.adapters.write_to_file(timeline, str(written["otio"]), adapter_name="otio_json")
    picture = otio.schema.Timeline(name=line.production_title,
                                   global_start_time=timeline.global_start_time)
    picture.tracks.append(timeline.video_tracks()[0].deepcopy())
    otio.adapters.write_to_file(picture, str(written["edl"]), adapter_name="cmx_3600")


def fcp_xml(timeline: otio.schema.Timeline) -> str:
    """The fcp_xml adapter's document, indented by ElementTree: the adapter's own writer
    re-parses its output with minidom to indent it, half of its time for a cut of 200 shots."""
    fcp = otio.adapters.from_name("fcp_xml").module()
    root = ET.Element("xmeml", version="4")
    project = ET.SubElement(root, "project")
    ET.SubElement(project, "name").text = timeline.name
    children = ET.SubElement(project, "children")
    whole = otio.opentime.TimeRange(start_time=timeline.global_start_time,
                                    duration=timeline.duration())
    children.append(fcp._build_sequence_for_timeline(timeline, whole,
                                                     collections.defaultdict(dict)))
    ET.indent(root, space="    ")
    return '<?xml version="1.0" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"
