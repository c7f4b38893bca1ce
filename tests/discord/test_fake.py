"""The fake Discord holds discord.py to Discord's rules: limits, deadlines, events, replays.

A bare discord.py client (not Slate) drives it here, so each rule is checked on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fakes.discord import Attachment, FakeDiscord, InteractionFailed
from tests.fakes.discord.server import eventually


class Bare:
    """A minimal discord.py bot on the fake, with whatever commands a test gives its tree."""

    def __init__(self, fake: FakeDiscord) -> None:
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = intents.guild_reactions = True
        self.fake = fake
        self.client = commands.Bot(command_prefix=commands.when_mentioned, intents=intents,
                                   help_command=None, guild_ready_timeout=0.05)
        self.tree = self.client.tree
        self.events: list[tuple[str, object]] = []
        for name in ("raw_reaction_add", "raw_reaction_remove", "raw_reaction_clear",
                     "raw_reaction_clear_emoji", "raw_message_delete", "message"):
            self._listen(name)

    def _listen(self, name: str) -> None:
        async def handler(payload: object) -> None:
            self.events.append((name, payload))
        self.client.add_listener(handler, f"on_{name}")

    async def start(self) -> None:
        self.fake.point_discord_here()
        await self.client.login(self.fake.token)
        self.task = asyncio.create_task(self.client.connect())
        await asyncio.wait_for(self.client.wait_until_ready(), 10)
        await self.tree.sync()

    async def close(self) -> None:
        await self.client.close()
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def bare(discord_fake: FakeDiscord) -> AsyncIterator[Bare]:
    made = Bare(discord_fake)
    yield made
    await made.close()


async def test_unanswered_and_late_interactions_fail(bare: Bare,
                                                     discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    fake.answer_deadline = 0.3  # Discord's 3 s, shortened so the test is quick
    fake.expect_trouble = True
    late: list[BaseException] = []

    @bare.tree.command(name="silent", description="never answers")
    async def silent(interaction: discord.Interaction) -> None:
        return None

    @bare.tree.command(name="late", description="answers after the deadline")
    async def late_(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.5)
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            late.append(exc)

    await bare.start()
    user = fake.as_user(fake.add_user("Alice"))
    with pytest.raises(InteractionFailed):
        await user.slash("silent")
    with pytest.raises(InteractionFailed):
        await user.slash("late")
    await eventually(lambda: late)
    assert isinstance(late[0], discord.NotFound) and late[0].code == 10062
    assert len(fake.failed_interactions) == 2


async def test_limits_are_enforced_like_discord(bare: Bare, discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    fake.expect_trouble = True
    await bare.start()
    channel = bare.client.get_channel(fake.general.id)
    assert isinstance(channel, discord.TextChannel)
    wide = discord.Embed(title="t")
    for i in range(26):
        wide.add_field(name=f"f{i}", value="v")
    heavy = [discord.Embed(description="x" * 4000), discord.Embed(description="y" * 2001)]
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="a" * 81, custom_id="ok"))
    cases = [
        {"content": "x" * 2001},
        {"embed": wide},
        {"embeds": heavy},
        {"embed": discord.Embed(title="t" * 257)},
        {"content": "x", "view": view},
        {"file": discord.File(__import__("io").BytesIO(b"0" * (10 * 1024 * 1024 + 1)),
                              "big.bin")},
    ]
    for case in cases:
        with pytest.raises(discord.HTTPException) as refused:
            await channel.send(**case)
        expected = (413, 40005) if "file" in case else (400, 50035)
        assert (refused.value.status, refused.value.code) == expected
    assert len(fake.rejections) == len(cases)
    fake.rate_limit("POST", r"/channels/\d+/messages$")
    ok = await channel.send("x" * 2000, embed=discord.Embed(description="y" * 3900))
    assert fake.messages[ok.id]["content"] == "x" * 2000
    assert [c.status for c in fake.calls[-2:]] == [429, 200]  # discord.py waited and retried


async def test_interaction_token_expires_after_15_minutes(bare: Bare,
                                                          discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    fake.expect_trouble = True
    kept: list[discord.Interaction] = []

    @bare.tree.command(name="hold", description="answers and keeps the interaction")
    async def hold(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("held")
        kept.append(interaction)

    await bare.start()
    await fake.as_user(fake.add_user("Alice")).slash("hold")
    await kept[0].followup.send("within the token's life")
    fake.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as expired:
        await kept[0].followup.send("too late")
    assert expired.value.status == 401 and expired.value.code == 50027


async def test_reactions_deletes_threads_and_downloads(bare: Bare,
                                                       discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    got: list[bytes] = []

    @bare.tree.command(name="take", description="posts a file and reads one back")
    async def take(interaction: discord.Interaction, file: discord.Attachment) -> None:
        got.append(await file.read())
        await interaction.response.send_message("posted", file=await file.to_file())

    await bare.start()
    alice, bob = fake.add_user("Alice"), fake.add_user("Bob")
    reply = await fake.as_user(alice).slash("take", file=Attachment("a.txt", b"hello"))
    assert got == [b"hello"] and reply.attachments[0]["filename"] == "a.txt"
    await fake.as_user(alice).react(reply, "👍")
    await fake.as_user(bob).react(reply, "👍")
    await fake.as_user(bob).unreact(reply, "👍")
    channel = bare.client.get_channel(fake.general.id)
    message = await channel.fetch_message(reply.message_id)  # type: ignore[union-attr]
    await message.add_reaction("🎬")
    voters = [u.id async for u in message.reactions[0].users()]
    assert voters == [alice.id]
    thread = await message.create_thread(name="Shot 1.1 review")
    assert thread.name == "Shot 1.1 review"
    await fake.remove_emoji_reactions(reply.message_id, "🎬")
    await fake.remove_all_reactions(reply.message_id)
    await fake.delete_message(reply.message_id)
    await fake.as_user(bob).upload(Attachment("take.mp4", b"\x00" * 64, "video/mp4"))
    await eventually(lambda: len(bare.events) == 8)
    assert [e[0] for e in bare.events] == [
        "raw_reaction_add", "raw_reaction_add", "raw_reaction_remove", "raw_reaction_add",
        "raw_reaction_clear_emoji", "raw_reaction_clear", "raw_message_delete", "message"]
    uploaded = bare.events[-1][1]
    assert isinstance(uploaded, discord.Message) and uploaded.author.id == bob.id
    assert uploaded.attachments == []  # no message content intent: Discord strips them
    await fake.as_user(bob).upload(Attachment("take.mp4", b"\x00" * 64, "video/mp4"),
                                   content=f"<@{fake.bot_user.id}> for review")
    await eventually(lambda: len(bare.events) == 9)
    mentioned = bare.events[-1][1]
    assert await mentioned.attachments[0].read() == b"\x00" * 64  # type: ignore[union-attr]


async def test_modal_round_trip(bare: Bare, discord_fake: FakeDiscord) -> None:
    fake = discord_fake

    class Note(discord.ui.Modal, title="Note"):
        text = discord.ui.TextInput(label="Note", custom_id="note")

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"noted: {self.text.value}",
                                                    ephemeral=True)

    @bare.tree.command(name="note", description="opens a modal")
    async def note(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Note())

    await bare.start()
    user = fake.as_user(fake.add_user("Alice"))
    opened = await user.slash("note")
    assert opened.modal is not None and opened.modal["title"] == "Note"
    answered = await user.submit(opened.modal, note="wider lens")
    assert answered.content == "noted: wider lens" and answered.ephemeral


async def test_bad_token_is_refused(discord_fake: FakeDiscord) -> None:
    discord_fake.point_discord_here()
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()


async def test_unknown_routes_are_recorded_loudly(discord_fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{discord_fake.base_url}/api/v10/guilds/1/emojis"
        async with session.get(url, headers={"Authorization": f"Bot {discord_fake.token}"}) as r:
            assert r.status == 404
    assert discord_fake.unknown_routes == ["GET /api/v10/guilds/1/emojis"]
    discord_fake.unknown_routes.clear()  # the fixture would fail the test otherwise
