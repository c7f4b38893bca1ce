"""The pages as HTML: what studio/screening.py returns, escaped, in one small layout.

Server-rendered, readable on a phone, no framework: the only script is the screening page's
chapter list, which seeks the film.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from storage.cuts import Cut
from studio.cut.changelog import clock
from studio.cut.screening import Board, ChapterMark, ChapterView, Screening, ShotView

# Pages hold unreleased work: not cached by proxies, not framed, no Referer carrying the token.
PAGE_HEADERS = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
STATUS_WORDS = {"open": "open", "todo": "to do", "wip": "in progress",
                "needs_review": "needs review", "approved": "approved", "retake": "retake",
                "omitted": "omitted", "candidate": "candidate", "rejected": "rejected",
                "superseded": "superseded"}


def href(token: str | None, path: str) -> str:
    """A link to another page (or file) carrying the token this page was opened with."""
    url = quote(path)
    return f"{url}?{urlencode({'t': token})}" if token else url


def _layout(title: str, token: str | None, production: str, body: str, *,
            script: str = "") -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{escape(title)} · {escape(production)}</title>"
        "<link rel=\"stylesheet\" href=\"/style.css\"></head><body>"
        "<header class=\"top\"><a class=\"brand\" href=\"" + href(token, "/") + "\">"
        "<span class=\"clap\" aria-hidden=\"true\"></span>Slate</a>"
        f"<span class=\"production\">{escape(production)}</span></header>"
        f"<main>{body}</main>"
        "<footer>Unreleased work — please do not share this link.</footer>"
        + (f"<script>{script}</script>" if script else "") + "</body></html>\n")


def _pill(status: str) -> str:
    word = STATUS_WORDS.get(status, status.replace("_", " "))
    return f"<span class=\"pill s-{escape(status)}\">{escape(word)}</span>"


def _bar(done: int, total: int) -> str:
    percent = round(100 * done / total) if total else 0
    return (f"<div class=\"bar\" role=\"progressbar\" aria-valuenow=\"{percent}\" "
            f"aria-valuemin=\"0\" aria-valuemax=\"100\"><span style=\"width:{percent}%\">"
            f"</span></div><span class=\"count\">{done}/{total}</span>")


def _size(size: int | None) -> str:
    if size is None:
        return "zip"
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return ""


def _day(stamp: str | None) -> str:
    return escape((stamp or "")[:16].replace("T", " ")) or "—"


def _cut_line(cut: Cut) -> str:
    return (f"{clock(cut.duration or 0)} · {cut.shots_approved}/{cut.shots_total} shots "
            f"approved · built {_day(cut.finished_at)} UTC ({escape(cut.trigger)})")


# --- the board ----------------------------------------------------------------------------------

def board(view: Board, token: str | None) -> str:
    prod = view.production
    total, done = view.shots_total, view.shots_approved
    claimed = sum(1 for c in view.chapters if c.owner_name)
    stats = [("Chapters", f"{len(view.chapters)}", f"{claimed} claimed"),
             ("Shots approved", f"{done}/{total}",
              f"{round(100 * done / total) if total else 0}% of the film"),
             ("Latest cut", f"Cut {view.latest.version}" if view.latest else "—",
              clock(view.latest.duration or 0) if view.latest else "none yet")]
    cards = "".join(f"<div class=\"stat\"><div class=\"label\">{escape(a)}</div>"
                    f"<div class=\"value\">{escape(b)}</div><div class=\"sub\">{escape(c)}</div>"
                    "</div>" for a, b, c in stats)
    parts = [f"<h1>{escape(prod.title)}</h1><p class=\"lede\">Production board</p>",
             f"<section class=\"stats\">{cards}</section>"]
    if view.latest is not None:
        parts.append(
            "<section class=\"card latest\"><div><div class=\"label\">Now screening</div>"
            f"<h2>Cut {view.latest.version}</h2><p class=\"meta\">{_cut_line(view.latest)}</p>"
            "</div><a class=\"button\" href=\""
            + href(token, f"/cuts/{view.latest.version}") + "\">▶ Watch the cut</a></section>")
    rows = []
    for c in view.chapters:
        ch = c.chapter
        rows.append(
            "<tr><td data-label=\"#\" class=\"num\">" + str(ch.number) + "</td>"
            "<td data-label=\"Chapter\"><a href=\"" + href(token, f"/chapters/{ch.number}")
            + f"\">{escape(ch.title)}</a></td>"
            f"<td data-label=\"Owner\">{escape(c.owner_name or '—')}</td>"
            f"<td data-label=\"Due\">{escape(ch.due_date or '—')}</td>"
            f"<td data-label=\"Status\">{_pill(ch.status)}</td>"
            f"<td data-label=\"Approved\" class=\"progress\">"
            f"{_bar(c.shots_approved, c.shots_total)}</td></tr>")
    parts.append(
        "<section class=\"card\"><h2>Chapters</h2><table class=\"chapters\"><thead><tr>"
        "<th>#</th><th>Chapter</th><th>Owner</th><th>Due</th><th>Status</th>"
        "<th>Approved shots</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        "</section>")
    if view.cuts:
        items = "".join(
            "<li><a href=\"" + href(token, f"/cuts/{c.version}") + f"\">Cut {c.version}</a>"
            f"<span class=\"meta\">{_cut_line(c)}</span></li>" for c in view.cuts)
        parts.append(f"<section class=\"card\"><h2>Cuts</h2><ul class=\"cuts\">{items}</ul>"
                     "</section>")
    return _layout("Board", token, prod.title, "".join(parts))


# --- the screening room ---------------------------------------------------------------------------

def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _mark_title(mark: ChapterMark) -> str:
    return mark.title if mark.number is None else f"Chapter {mark.number} — {mark.title}"


def chapters_vtt(view: Screening) -> str:
    """The cut's chapters as a WebVTT chapters track (the player's chapter menu)."""
    cues = [f"{i}\n{_timestamp(m.start)} --> {_timestamp(m.end)}\n"
            f"{_mark_title(m).replace('-->', '→')}\n"
            for i, m in enumerate(view.marks, start=1)]
    return "WEBVTT\n\n" + "\n".join(cues)


SEEK_SCRIPT = """
const film = document.getElementById('film');
const marks = Array.from(document.querySelectorAll('.marks button'));
marks.forEach(b => b.addEventListener('click', () => {
  film.currentTime = parseFloat(b.dataset.start);
  film.play().catch(() => {});
}));
film.addEventListener('timeupdate', () => {
  const at = film.currentTime;
  marks.forEach(b => b.classList.toggle('playing',
    at >= parseFloat(b.dataset.start) && at < parseFloat(b.dataset.end)));
});
"""


def _changelog(text: str) -> str:
    """The changelog's markdown lists as HTML lists (its heading is the page's own)."""
    items = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        nested = line.startswith("  ")
        item = escape(stripped.removeprefix("- "))
        broken = " class=\"broken\"" if "BROKEN" in stripped else ""
        items.append(f"<li{broken}{' data-nested=1' if nested else ''}>{item}</li>")
    return "<ul class=\"changelog\">" + "".join(items) + "</ul>"


def screening(view: Screening, token: str | None) -> str:
    cut, prod = view.cut, view.production
    base = f"/cuts/{cut.version}"
    parts = [f"<p class=\"crumbs\"><a href=\"{href(token, '/')}\">Board</a> › Cut "
             f"{cut.version}</p><h1>Cut {cut.version}</h1>"
             f"<p class=\"lede\">{_cut_line(cut)}</p>"]
    if view.has_film:
        parts.append(
            "<section class=\"screen\"><video id=\"film\" controls preload=\"metadata\" "
            "playsinline src=\"" + href(token, f"{base}/files/film.mp4") + "\">"
            "<track kind=\"chapters\" srclang=\"en\" label=\"Chapters\" default src=\""
            + href(token, f"{base}/chapters.vtt") + "\"></video></section>")
    else:
        parts.append("<p class=\"card\">The film of this cut is no longer kept.</p>")
    marks = "".join(
        f"<li><button type=\"button\" data-start=\"{m.start:.3f}\" data-end=\"{m.end:.3f}\">"
        f"<span class=\"time\">{clock(m.start)}</span>"
        f"<span class=\"title\">{escape(_mark_title(m))}</span></button></li>"
        for m in view.marks)
    downloads = "".join(
        "<li><a download href=\"" + href(token, f"{base}/{d.path}")
        + f"\">{escape(d.label)}</a><span class=\"meta\">{_size(d.size)}</span></li>"
        for d in view.downloads)
    credits = "".join(f"<dt>{escape(role)}</dt><dd>{escape(name)}</dd>" if role
                      else f"<dt class=\"head\">{escape(name)}</dt>"
                      for role, name in view.credits)
    parts.append(
        "<div class=\"columns\"><section class=\"card\"><h2>Chapters</h2>"
        f"<ol class=\"marks\">{marks}</ol></section>"
        "<section class=\"card\"><h2>Downloads</h2>"
        f"<ul class=\"downloads\">{downloads}</ul></section></div>"
        "<div class=\"columns\"><section class=\"card\"><h2>Changelog</h2>"
        f"{_changelog(cut.changelog)}</section>"
        f"<section class=\"card\"><h2>Credits</h2><dl class=\"credits\">{credits}</dl>"
        "</section></div>")
    return _layout(f"Cut {cut.version}", token, prod.title, "".join(parts),
                   script=SEEK_SCRIPT if view.has_film else "")


# --- a chapter ------------------------------------------------------------------------------------

def _take_player(shot: ShotView, token: str | None) -> str:
    take = shot.approved
    if take is None:
        return "<div class=\"frame empty\">no approved take yet</div>"
    media = href(token, f"/media/{take.preview_sha256 or take.media_sha256}")
    poster = href(token, f"/media/{take.thumbnail_sha256}") if take.thumbnail_sha256 else ""
    label = f"shot {shot.ref.code} take r{take.revision}"
    if take.kind == "image":
        return f"<img class=\"frame\" loading=\"lazy\" alt=\"{escape(label)}\" src=\"{media}\">"
    if take.kind == "audio":
        return f"<audio controls preload=\"none\" src=\"{media}\"></audio>"
    # The thumbnail stands in until played: nothing of the take loads before a click.
    return (f"<video class=\"frame\" controls preload=\"none\" playsinline "
            f"aria-label=\"{escape(label)}\" poster=\"{poster}\" src=\"{media}\"></video>")


def _candidates(shot: ShotView) -> str:
    if shot.vote is None:
        return ""
    rows = []
    for c in sorted(shot.vote.candidates, key=lambda c: c.take.revision):
        t = c.take
        who = shot.creators.get(t.creator_id or 0, "—")
        rows.append(f"<tr><td>r{t.revision}</td><td>{escape(who)}</td>"
                    f"<td>{escape(t.provider or t.source)}</td>"
                    f"<td class=\"num\">{c.tally.votes_for:g}</td>"
                    f"<td class=\"num\">{c.tally.votes_against:g}</td>"
                    f"<td>{_pill(t.status)}</td></tr>")
    window = shot.vote.window
    state = (f"vote {escape(window.state)}" + (f": {escape(window.outcome.replace('_', ' '))}"
                                               if window.outcome else "")
             if window is not None else "not put to the vote yet")
    link = (f" · <a href=\"{escape(shot.vote_url)}\" target=\"_blank\" rel=\"noreferrer\">"
            "vote in Discord ↗</a>" if shot.vote_url else "")
    return ("<details class=\"votes\" open><summary>Candidates · "
            f"{shot.vote.voters} voters · {state}{link}</summary>"
            "<table><thead><tr><th>Take</th><th>By</th><th>Tool</th><th>For</th>"
            "<th>Against</th><th>Status</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></details>")


def chapter(view: ChapterView, token: str | None) -> str:
    ch, prod = view.progress.chapter, view.production
    shots = []
    for shot in view.shots:
        s = shot.ref.shot
        approved = shot.approved
        by = (f" · r{approved.revision} by "
              f"{escape(shot.creators.get(approved.creator_id or 0, '—'))}"
              if approved else "")
        shots.append(
            f"<article class=\"shot\" id=\"shot-{escape(shot.ref.code)}\">"
            f"{_take_player(shot, token)}<div class=\"body\"><div class=\"head\">"
            f"<span class=\"code\">{escape(shot.ref.code)}</span>{_pill(s.status)}</div>"
            f"<p>{escape(s.description)}</p><p class=\"meta\">{s.planned_duration:g} s planned"
            + (f" · {escape(s.camera)}" if s.camera else "") + by + "</p>"
            + _candidates(shot) + "</div></article>")
    body = (f"<p class=\"crumbs\"><a href=\"{href(token, '/')}\">Board</a> › Chapter "
            f"{ch.number}</p><h1>Chapter {ch.number} — {escape(ch.title)}</h1>"
            f"<p class=\"lede\">{escape(view.progress.owner_name or 'unclaimed')}"
            + (f" · due {escape(ch.due_date)}" if ch.due_date else "")
            + f" · {_pill(ch.status)}</p>"
            + (f"<p>{escape(ch.synopsis)}</p>" if ch.synopsis else "")
            + "<div class=\"card progress-card\">"
            + _bar(view.progress.shots_approved, view.progress.shots_total)
            + " shots approved</div>"
            + f"<section class=\"shots\">{''.join(shots) or '<p>No shots yet.</p>'}</section>")
    return _layout(f"Chapter {ch.number}", token, prod.title, body)


# --- refusals -------------------------------------------------------------------------------------

def refused() -> str:
    return _layout("Link expired", None, "Slate", (
        "<section class=\"card notice\"><h1>This link has expired or is not valid</h1>"
        "<p>Screening links last a few days. Ask the bot for a new one: "
        "<code>/cut latest</code> in the production's Discord server.</p></section>"))


def not_found(reason: str, token: str | None) -> str:
    return _layout("Not found", token, "Slate", (
        f"<section class=\"card notice\"><h1>Not found</h1><p>{escape(reason)}</p>"
        f"<p><a href=\"{href(token, '/')}\">Back to the board</a></p></section>"))
