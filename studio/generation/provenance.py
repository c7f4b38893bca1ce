"""What a creator declares about a take made in their own tool: which tool, model, prompt, seed,
motion, what it cost, the tool's page for the job, and the take it was made from.

Checked here (one-line reasons) and turned into the same Provenance a generated take carries;
a link's fetch job keeps the declaration in its parameters until its take is stored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from storage import takes
from storage.takes import Provenance
from studio.app import Studio
from studio.errors import InvalidInput

# The tools creators bring takes from, as the autocomplete offers them.
TOOLS = ("Midjourney", "DALL·E", "Stable Diffusion", "ComfyUI", "Runway", "Pika", "Kling",
         "Luma", "Magnific", "ElevenLabs", "other")
# Spellings people type for the same tools.
_ALIASES = {"dalle": "DALL·E", "dall-e": "DALL·E", "dall·e": "DALL·E", "dall e": "DALL·E",
            "sd": "Stable Diffusion", "sdxl": "Stable Diffusion", "stablediffusion":
            "Stable Diffusion", "mj": "Midjourney", "comfy": "ComfyUI",
            "runwayml": "Runway", "luma ai": "Luma", "dream machine": "Luma",
            "11labs": "ElevenLabs", "eleven labs": "ElevenLabs"}
MAX_PROMPT = 2000
MAX_COST_USD = 100_000.0
MAX_TOOL = 40
MAX_MODEL = 100
MAX_URL = 1000


@dataclass(frozen=True)
class Declared:
    """A creator's word about an uploaded take, checked; `based_on` is a take id."""

    tool: str = ""
    model: str = ""
    prompt: str = ""
    seed: int | None = None
    motion: int | None = None
    cost: float = 0.0
    source_url: str = ""
    based_on: int | None = None

    def provenance(self) -> Provenance:
        params = {"motion": self.motion} if self.motion is not None else {}
        return Provenance(provider=self.tool, model=self.model, prompt=self.prompt,
                          seed=self.seed, params=params, cost=self.cost,
                          source_url=self.source_url, based_on=self.based_on)

    def to_params(self) -> dict:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict) -> Declared:
        return cls(**{k: v for k, v in params.items() if k in cls.__dataclass_fields__})


def tool_name(typed: str) -> str:
    """The tool's usual spelling when it is one we know; any other name as typed."""
    name = " ".join(typed.split())
    if not name:
        return ""
    if len(name) > MAX_TOOL:
        raise InvalidInput(f"a tool's name is at most {MAX_TOOL} characters")
    for known in TOOLS:
        if name.casefold() == known.casefold():
            return known
    return _ALIASES.get(name.casefold(), name)


def tools_matching(typed: str) -> list[str]:
    """The autocomplete: known tools containing what was typed (all of them for nothing)."""
    wanted = typed.strip().casefold()
    found = sorted((t for t in TOOLS if wanted in t.casefold()),
                   key=lambda t: not t.casefold().startswith(wanted))  # prefixes first
    return found or ([typed.strip()[:MAX_TOOL]] if wanted else [])


def _source_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL \
            or any(c.isspace() for c in url):
        raise InvalidInput("source_url is the tool's page for the job: an http(s) link")
    return url


async def declare(studio: Studio, shot_id: int, code: str, *, tool: str = "", model: str = "",
                  prompt: str = "", seed: int | None = None, motion: int | None = None,
                  cost: float | None = None, source_url: str = "",
                  based_on: int | None = None) -> Declared:
    """Check what the creator says about the take; `based_on` is a revision of the same shot
    (r1 → 1). Every refusal names the field."""
    prompt = " ".join(prompt.split())
    if len(prompt) > MAX_PROMPT:
        raise InvalidInput(f"a prompt is at most {MAX_PROMPT} characters")
    model = " ".join(model.split())
    if len(model) > MAX_MODEL:
        raise InvalidInput(f"a model's name is at most {MAX_MODEL} characters")
    if seed is not None and not 0 <= seed < 2**63:  # SQLite keeps signed 64-bit integers
        raise InvalidInput("a seed is a whole number from 0 to 9223372036854775807")
    if motion is not None and not 1 <= motion <= 10:
        raise InvalidInput("motion is 1 (almost still) to 10 (strongest)")
    if cost is not None and not 0 <= cost <= MAX_COST_USD:
        raise InvalidInput(f"cost is in US dollars, 0 to {MAX_COST_USD:,.0f}")
    source = None
    if based_on is not None:
        for found in await takes.of_shot(studio.db.reader, shot_id):
            if found.revision == based_on:
                source = found
        if source is None:
            raise InvalidInput(f"based_on: shot {code} has no take r{based_on}")
    return Declared(tool=tool_name(tool), model=model, prompt=prompt, seed=seed, motion=motion,
                    cost=round(float(cost or 0.0), 4), source_url=_source_url(source_url),
                    based_on=source.id if source else None)
