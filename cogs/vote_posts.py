"""The vote on a take's post: an embed on the post itself, edited as the vote goes.

Open: how to vote, when it closes, the other candidates, and whose votes count. Closed: the
result, this take's final tally, and that reactions from now on are not counted.
"""

from __future__ import annotations

import discord

from cogs.render import cut
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR
from studio.review.timers import parse
from studio.review.windows import Candidate, VoteStatus

COLOUR_OPEN = discord.Colour(0xD69E2E)
COLOUR_APPROVED = discord.Colour(0x38A169)
COLOUR_CLOSED = discord.Colour(0x718096)
OUTCOME_TEXT = {
    "tie": "it is a tie (or the lead is under the margin)",
    "no_quorum": "too few members voted",
    "no_support": "no take has more votes for than against",
}


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def post_link(guild_id: int, candidate: Candidate) -> str:
    assert candidate.message is not None
    return message_link(guild_id, candidate.message.channel_id, candidate.message.message_id)


def when(text: str) -> str:
    """A stored UTC time as a Discord timestamp each reader sees in their own zone."""
    return f"<t:{int(parse(text).timestamp())}:R>"


def creators_line(found: VoteStatus) -> str:
    return ("creators' own votes count" if found.rules.creator_votes_count
            else "creators' own votes are not counted")


def tally_text(candidate: Candidate) -> str:
    t = candidate.tally
    return (f"{VOTE_FOR} {t.votes_for:g} · {VOTE_AGAINST} {t.votes_against:g} "
            f"(score {t.score:+g})")


def vote_embed(found: VoteStatus, candidate: Candidate, guild_id: int) -> discord.Embed:
    window = found.window
    assert window is not None
    code = found.ref.code
    if window.state == "open":
        links = " · ".join(
            f"[r{c.take.revision}]({post_link(guild_id, c)})" if c.message
            else f"r{c.take.revision}" for c in found.candidates if c.take.status == "candidate")
        lines = [f"React {VOTE_FOR} (for) or {VOTE_AGAINST} (against); one vote per member. "
                 f"Closes {when(window.deadline)}.",
                 f"Candidates: {links}",
                 f"Quorum {found.rules.quorum} · margin {found.rules.margin:g} · "
                 f"{creators_line(found)}."]
        return discord.Embed(title=cut(f"🗳️ Vote on shot {code} — open", 256),
                             description=cut("\n".join(lines), 4096), colour=COLOUR_OPEN)
    winner = next((c for c in found.candidates if c.take.id == window.winner_take_id), None)
    how = (f"by vote (score {winner.tally.score:+g})" if window.outcome == "approved" and winner
           else "by a producer's decision")
    colour = COLOUR_CLOSED
    if winner is not None and winner.take.id == candidate.take.id:
        result = f"✅ Take r{candidate.take.revision} is approved {how}."
        colour = COLOUR_APPROVED
    elif winner is not None:
        result = (f"Take r{winner.take.revision} was approved {how}; this take was not "
                  "chosen.")
    elif window.outcome == "retake":
        result = "The shot was sent back for a retake."
    else:
        result = (f"Closed without a winner: {OUTCOME_TEXT.get(window.outcome, window.outcome)}"
                  ". A producer decides with /approve or /retake.")
    lines = [result, f"Final tally of this take: {tally_text(candidate)}",
             f"Vote closed: reactions added from now on are not counted "
             f"({creators_line(found)})."]
    return discord.Embed(title=cut(f"🗳️ Vote on shot {code} — closed", 256),
                         description=cut("\n".join(lines), 4096), colour=colour)
