"""Issue 22 item 6: the shell names existing members; it never makes a second Maya."""

from __future__ import annotations

from pathlib import Path

from storage import chapters, members
from storage.productions import Production
from studio.app import Studio
from studio.production.people import actor
from tests.test_shell import slate


async def _members(studio: Studio, prod: Production) -> list[str]:
    return sorted(m.name for m in await members.of_production(studio.db.reader, prod.id))


async def _owner(studio: Studio, prod: Production, number: int) -> int | None:
    found = await chapters.by_number(studio.db.reader, prod.id, number)
    assert found is not None
    return found.owner_id


async def test_shell_names_resolve_to_discord_members(
    studio: Studio, sample: Production, tmp_path: Path
) -> None:
    maya = await actor(studio.db, sample, "Maya", discord_id=501, discord_name="maya.k")
    await actor(studio.db, sample, "Lee", discord_id=502, discord_name="lee.one")
    await actor(studio.db, sample, "Lee", discord_id=503, discord_name="lee.two")
    before = await _members(studio, sample)

    claimed = slate(tmp_path, "--guild", "1", "--as", "Maya", "claim", "3")
    assert claimed.returncode == 0, claimed.stderr
    assert await _owner(studio, sample, 3) == maya.id
    by_username = slate(tmp_path, "--guild", "1", "assign", "4", "MAYA.K")
    assert by_username.returncode == 0, by_username.stderr
    assert await _owner(studio, sample, 4) == maya.id

    unknown = slate(tmp_path, "--guild", "1", "assign", "5", "Mayaa")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        "slate: no member is called 'Mayaa' (members: Maya (Discord @maya.k)); add "
        "--new-member to create a shell-only member by that name"]
    shared = slate(tmp_path, "--guild", "1", "--as", "lee", "claim", "5")
    assert shared.returncode == 1
    assert "'lee' could be 2 members: Lee (Discord @lee.one); Lee (Discord @lee.two)" \
        in shared.stderr
    assert await _owner(studio, sample, 5) is None
    # The shell's own producer identity is the only member the refusals left behind.
    assert await _members(studio, sample) == sorted([*before, "shell"])

    made = slate(tmp_path, "--guild", "1", "--new-member", "--as", "莎拉", "claim", "6")
    assert made.returncode == 0, made.stderr
    assert "莎拉 now holds chapter 6" in made.stdout
    again = slate(tmp_path, "--guild", "1", "assign", "7", "莎拉")
    assert again.returncode == 0, again.stderr
    assert await _members(studio, sample) == sorted([*before, "shell", "莎拉"])
    shell_only = [m for m in await members.of_production(studio.db.reader, sample.id)
                  if m.name == "莎拉"]
    assert len(shell_only) == 1 and shell_only[0].discord_id is None
