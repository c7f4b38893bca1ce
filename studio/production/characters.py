"""Characters for consistency across takes: `@Name` in a prompt expands to their look.

A character has trigger words, a LoRA name or reference images, and a voice id. Expansion
writes the trigger words into the prompt, adds the LoRA tag for providers that load LoRAs,
passes reference images to providers that take them, and lends the voice to voice jobs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from storage import audit, chapters, characters, media_files
from storage.characters import Character
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.media import probe
from studio.production.people import Actor

# A name starts with a letter of any script (`@Maya`, `@莎拉`, `@Жанна`).
NAME = re.compile(r"^[^\W\d_][\w-]{0,39}$")
MENTION = re.compile(r"@([^\W\d_][\w-]{0,39})")


@dataclass(frozen=True)
class Expanded:
    prompt: str
    reference_images: list[str] = field(default_factory=list)  # media paths
    voice_id: str = ""
    names: list[str] = field(default_factory=list)
    loras: list[str] = field(default_factory=list)  # for providers that load LoRA weights


async def add(studio: Studio, prod: Production, who: Actor, name: str, *,
              trigger_words: str = "", lora: str = "", reference_files: list[Path] = (),
              voice_id: str = "") -> Character:
    name = name.strip().lstrip("@")
    # Characters shape everyone's prompts: producers and creators (chapter holders) add them.
    if not who.is_producer and not await chapters.owned_by(studio.db.reader, prod.id, who.id):
        raise NotPermitted(f"adding a character needs the {prod.producer_role} role or a "
                           "chapter of your own")
    if not NAME.match(name):
        raise InvalidInput("a character's name is 1 to 40 letters (of any script), digits, "
                           "'-' or '_', starting with a letter (it is written @Name in prompts)")
    if len(trigger_words) > 500 or len(lora) > 200 or len(voice_id) > 100:
        raise InvalidInput("trigger words ≤ 500, LoRA ≤ 200, voice id ≤ 100 characters")
    if len(reference_files) > 4:
        raise InvalidInput("at most 4 reference images")
    found = [probe(path) for path in reference_files]
    if any(f.kind != "image" for f in found):
        raise InvalidInput("reference images must be images")
    if await characters.by_name(studio.db.reader, prod.id, name) is not None:
        raise InvalidInput(f"there is already a character named {name}")
    async with studio.db.transaction() as tx:
        shas = []
        for path, info in zip(reference_files, found, strict=True):
            sha, stored = mediastore.put_file(studio.settings.media_path, path)
            await media_files.ensure(tx, sha, kind="image", container=info.container,
                                     size=stored.stat().st_size, duration=None,
                                     width=info.width, height=info.height, fps=None,
                                     video_codec=info.video_codec, audio_codec=None,
                                     has_audio=False, original_name=path.name)
            shas.append(sha)
        made = await characters.create(tx, prod.id, name, trigger_words=trigger_words.strip(),
                                       lora=lora.strip(), reference_images=shas,
                                       voice_id=voice_id.strip())
        await audit.record(tx, prod.id, who.id, "character", made.id, "add",
                           after={"name": name})
    return made


async def listed(studio: Studio, prod: Production) -> list[Character]:
    return await characters.all_of(studio.db.reader, prod.id)


async def show(studio: Studio, prod: Production, name: str) -> Character:
    found = await characters.by_name(studio.db.reader, prod.id, name.strip().lstrip("@"))
    if found is None:
        raise NotFound(f"there is no character named {name.strip()[:40]}")
    return found


async def expand(studio: Studio, prod: Production, prompt: str, *,
                 supports_lora: bool) -> Expanded:
    """Replace each @Name with the character's words; refuse an unknown name."""
    names: list[str] = []
    refs: list[str] = []
    voice = ""
    cast: dict[str, Character] = {}
    known = await characters.all_of(studio.db.reader, prod.id)
    for mention in MENTION.findall(prompt):
        found = _named(known, mention)
        if found is None:
            raise InvalidInput(f"the prompt mentions @{mention}, but there is no such character "
                               "(see /character list)")
        cast.setdefault(found.name.casefold(), found)

    def words(match: re.Match) -> str:
        mention = match.group(1)
        found = _named(known, mention)
        assert found is not None  # every mention was resolved above
        # The trigger words wake the LoRA the provider loads beside the model.
        return (found.name + (f" ({found.trigger_words})" if found.trigger_words else "")
                + mention[len(found.name):])

    expanded = MENTION.sub(words, prompt)
    for found in cast.values():
        names.append(found.name)
        refs.extend(str(mediastore.path_for(studio.settings.media_path, sha))
                    for sha in found.references)
        voice = voice or found.voice_id
    loras = [c.lora for c in cast.values() if c.lora] if supports_lora else []
    return Expanded(expanded, refs[:3], voice, names, loras)


def _named(known: list[Character], mention: str) -> Character | None:
    """The character an @-mention names: the whole word, or (in scripts written without spaces,
    `@莎拉走进来`) the longest name the word starts with, where the name ends at a CJK letter."""
    word = mention.casefold()
    best: Character | None = None
    for found in known:
        name = found.name.casefold()
        whole = word == name
        joined = (len(word) > len(name) and word.startswith(name)
                  and (_wide(word[len(name) - 1]) or _wide(word[len(name)])))
        if (whole or joined) and (best is None or len(name) > len(best.name)):
            best = found
    return best


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"
