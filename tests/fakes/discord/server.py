"""A loopback Discord: the REST API and gateway that the unmodified discord.py client logs into.

One guild, its roles, channels and people; the bot identifies over a websocket, and scripted
users act through `fake.as_user(alice)`: slash commands, autocomplete, button clicks, modals,
reactions and uploads. Every REST call is logged; calls Discord would reject (limits, a late
answer, an expired token) are rejected the same way and recorded in `fake.rejections`; routes
the fake does not know fail with 404 and are recorded in `fake.unknown_routes`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import yarl
from aiohttp import WSMsgType, web

from tests.fakes.discord import limits

API = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL = 64
NONCE_WINDOW_S = 300  # "the past few minutes" of enforce_nonce
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MESSAGE_CONTENT = 1 << 15
# What @everyone may do in a fresh server (view, send, read history, react, use commands…).
EVERYONE_PERMISSIONS = 0x0000_0064_0004_2E41


class InteractionFailed(AssertionError):
    """The user saw "This interaction failed": the bot did not answer within 3 s."""


class Rejected(AssertionError):
    """A scripted user action that Discord itself would not allow (unknown command, bad option)."""


@dataclass
class Role:
    id: int
    name: str
    permissions: int = 0
    position: int = 1

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "name": self.name, "permissions": str(self.permissions),
                "position": self.position, "color": 0, "hoist": False, "managed": False,
                "mentionable": False, "flags": 0}


@dataclass
class Channel:
    id: int
    name: str
    type: int = 0
    position: int = 0
    parent_id: int | None = None
    owner_id: int | None = None
    recipient: dict[str, Any] | None = None  # a DM channel's user

    @property
    def is_thread(self) -> bool:
        return self.type in (10, 11, 12)

    def payload(self, guild_id: int) -> dict[str, Any]:
        if self.type == 1:  # a direct message channel belongs to no guild
            return {"id": str(self.id), "type": 1, "last_message_id": None,
                    "recipients": [self.recipient] if self.recipient else []}
        data: dict[str, Any] = {"id": str(self.id), "name": self.name, "type": self.type,
                                "position": self.position, "guild_id": str(guild_id),
                                "permission_overwrites": [], "nsfw": False}
        if self.parent_id:
            data["parent_id"] = str(self.parent_id)
        if self.is_thread:
            # As Discord sends a thread (in GUILD_CREATE's threads and interaction payloads).
            data.update(owner_id=str(self.owner_id or 0), member_count=1, message_count=0,
                        rate_limit_per_user=0,
                        thread_metadata={"archived": False, "auto_archive_duration": 1440,
                                         "archive_timestamp": "2026-01-01T00:00:00+00:00",
                                         "locked": False})
        if self.type == 2:
            data.update(bitrate=64000, user_limit=0, rtc_region=None)
        return data


@dataclass
class User:
    id: int
    name: str
    roles: list[int] = field(default_factory=list)
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.name, "global_name": self.name,
                "discriminator": "0", "avatar": None, "bot": self.bot}


@dataclass
class Attachment:
    """A file a user attaches (to a command option or a message)."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Reply:
    """What the scripted user sees after acting: one message (or an interaction failure)."""

    content: str | None
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    ephemeral: bool
    message_id: int | None
    channel_id: int | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        """Content plus every embed's text, for assertions that do not care where words are."""
        parts = [self.content or ""]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f.get('name')} {f.get('value')}" for f in embed.get("fields") or []]
            parts.append((embed.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [c for row in self.components for c in row.get("components", [])
                if c.get("type") == 2]

    def button(self, label: str) -> dict[str, Any]:
        for found in self.buttons:
            if found.get("label") == label:
                return found
        labels = [b.get("label") for b in self.buttons]
        raise AssertionError(f"no button {label!r}; buttons: {labels}")


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: Any
    at: float


@dataclass
class Interaction:
    id: int
    token: str
    type: int
    user: User
    channel_id: int
    created: float
    message_id: int | None = None  # the message a component lives on
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    response_type: int | None = None
    original_id: int | None = None
    ephemeral: bool = False
    answered_after: float | None = None
    result: dict[str, Any] | None = None


@dataclass
class Session:
    id: str
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    intents: int = 0
    closed: bool = False


class FakeDiscord:
    def __init__(self, *, token: str = "fake-bot-token", heartbeat_ms: int = 41250,
                 answer_deadline: float = limits.ANSWER_DEADLINE_S) -> None:
        self.token = token
        self.heartbeat_ms = heartbeat_ms
        self.answer_deadline = answer_deadline
        self._last_id = 0
        # Roles and channels made after the bot connected reach it before the next event.
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self.guild_id = self.next_id()
        self.guild_name = "Slate Test Server"
        self.bot_user = User(self.next_id(), "Slate", bot=True)
        self.application_id = self.bot_user.id
        self.roles: dict[int, Role] = {self.guild_id: Role(self.guild_id, "@everyone",
                                                           EVERYONE_PERMISSIONS, 0)}
        self.channels: dict[int, Channel] = {}
        self.users: dict[int, User] = {}
        self.dms_closed: set[int] = set()  # users who accept no direct messages from the bot
        self.owner = self.add_user("Owner")
        self.general = self.add_channel("general")
        self.messages: dict[int, dict[str, Any]] = {}
        # enforce_nonce: (author, nonce) -> (message id, when), deduplicated for a few minutes.
        self.nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.reactions: dict[int, dict[str, list[int]]] = {}
        self.files: dict[int, Attachment] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions: dict[int, Interaction] = {}
        self.sessions: dict[str, Session] = {}
        self.calls: list[Call] = []
        self.rejections: list[Call] = []
        self.unknown_routes: list[str] = []
        self.failed_interactions: list[Interaction] = []
        self.late_answers: list[Interaction] = []
        self.identifies = 0
        self.resumes = 0
        self.command_syncs = 0
        self.clock_offset = 0.0
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.threads: list[dict[str, Any]] = []
        # Scripted rate limits: (method, path regex, retry_after seconds), each answered once.
        self.rate_limits: list[tuple[str, str, float]] = []

    # --- set-up -----------------------------------------------------------------------------

    def next_id(self) -> int:
        """A snowflake: milliseconds since Discord's epoch, so `created_at` means something."""
        stamp = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, stamp)
        return self._last_id

    def now(self) -> float:
        return time.monotonic() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on (to expire interaction tokens without waiting)."""
        self.clock_offset += seconds

    def rate_limit(self, method: str, path_pattern: str, retry_after: float = 0.05) -> None:
        """Answer the next matching request with a 429, as Discord does when a bucket is empty."""
        self.rate_limits.append((method, path_pattern, retry_after))

    def add_role(self, name: str, permissions: int = 0) -> Role:
        role = Role(self.next_id(), name, permissions, position=len(self.roles))
        self.roles[role.id] = role
        self._pending.append(("GUILD_ROLE_CREATE", {"guild_id": str(self.guild_id),
                                                    "role": role.payload()}))
        return role

    def role_named(self, name: str) -> Role:
        for role in self.roles.values():
            if role.name == name:
                return role
        return self.add_role(name)

    def add_channel(self, name: str, type: int = 0) -> Channel:
        channel = Channel(self.next_id(), name, type, position=len(self.channels))
        self.channels[channel.id] = channel
        self._pending.append(("CHANNEL_CREATE", channel.payload(self.guild_id)))
        return channel

    def add_user(self, name: str, *roles: str | Role) -> User:
        user = User(self.next_id(), name)
        for role in roles:
            user.roles.append((role if isinstance(role, Role) else self.role_named(role)).id)
        self.users[user.id] = user
        return user

    def permissions_of(self, user: User) -> int:
        if user.id == self.owner.id:
            return (1 << 53) - 1
        value = self.roles[self.guild_id].permissions
        for role_id in user.roles:
            value |= self.roles[role_id].permissions
        return (1 << 53) - 1 if value & ADMINISTRATOR else value

    def member_payload(self, user: User) -> dict[str, Any]:
        return {"user": user.payload(), "roles": [str(r) for r in user.roles], "flags": 0,
                "joined_at": "2026-01-01T00:00:00+00:00", "deaf": False, "mute": False,
                "nick": None, "pending": False, "permissions": str(self.permissions_of(user))}

    def guild_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id), "name": self.guild_name, "owner_id": str(self.owner.id),
            "icon": None, "splash": None, "features": [], "emojis": [], "stickers": [],
            "roles": [r.payload() for r in self.roles.values()],
            "channels": [c.payload(self.guild_id) for c in self.channels.values()
                         if not c.is_thread and c.type != 1],
            "threads": [c.payload(self.guild_id) for c in self.channels.values()
                        if c.is_thread],
            "members": [self.member_payload(self.bot_user)],
            "presences": [], "voice_states": [], "member_count": len(self.users) + 1,
            "large": False, "unavailable": False, "joined_at": "2026-01-01T00:00:00+00:00",
            "verification_level": 0, "default_message_notifications": 0,
            "explicit_content_filter": 0, "mfa_level": 0, "premium_tier": 0,
            "preferred_locale": "en-US", "nsfw_level": 0, "afk_timeout": 300,
            "system_channel_flags": 0,
        }

    # --- server -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-resume", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> yarl.URL:
        return yarl.URL(f"ws://127.0.0.1:{self.port}/gateway")

    def point_discord_here(self) -> None:
        """Aim discord.py's REST base and gateway at this fake (process-wide, as the docs say)."""
        import discord.gateway
        import discord.http

        discord.http.Route.BASE = f"{self.base_url}{API}"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self.gateway_url

    async def close(self) -> None:
        for session in self.sessions.values():
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    # --- gateway ----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
        session: Session | None = None
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await self._send(ws, {"op": 11})
            elif op == 2:
                if frame["d"].get("token") != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self.identifies += 1
                session = Session(id=f"session-{self.next_id()}", ws=ws,
                                  intents=int(frame["d"].get("intents", 0)))
                self.sessions[session.id] = session
                await self._dispatch_to(session, "READY", {
                    "v": 10, "session_id": session.id, "user": self.bot_user.payload(),
                    "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway-resume",
                    "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                    "application": {"id": str(self.application_id), "flags": 0},
                    "private_channels": [], "relationships": [],
                })
                self._pending.clear()
                await self._dispatch_to(session, "GUILD_CREATE", self.guild_payload())
            elif op == 6:
                found = self.sessions.get(frame["d"].get("session_id"))
                if found is None or found.closed or frame["d"].get("token") != self.token:
                    await self._send(ws, {"op": 9, "d": False})
                    continue
                session = found
                session.ws = ws
                self.resumes += 1
                missed = [e for e in session.events if e["s"] > (frame["d"].get("seq") or 0)]
                for event in missed:
                    await self._send(ws, event)
                await self._dispatch_to(session, "RESUMED", {})
        if session is not None and session.ws is ws:
            session.ws = None
            # The client closing with 1000 ends its session; anything else may resume.
            if ws.close_code == 1000:
                session.closed = True
        return ws

    async def _send(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        if not ws.closed:
            try:
                await ws.send_str(json.dumps(payload))
            except ConnectionError:
                pass

    async def _dispatch_to(self, session: Session, name: str, data: dict[str, Any]) -> None:
        session.seq += 1
        event = {"op": 0, "t": name, "s": session.seq, "d": data}
        session.events.append(event)
        if session.ws is not None:
            await self._send(session.ws, event)

    async def dispatch(self, name: str, data: dict[str, Any]) -> None:
        """Send an event to every live bot session (buffered for replay if it is disconnected)."""
        await self._flush_pending()
        for session in list(self.sessions.values()):
            if not session.closed:
                await self._dispatch_to(session, name, data)

    async def _flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        for event in pending:
            await self.dispatch(*event)

    async def force_reconnect(self) -> None:
        """Discord's op 7: the bot must reconnect and resume."""
        for session in self.sessions.values():
            if session.ws is not None:
                await self._send(session.ws, {"op": 7, "d": None})

    async def drop_connections(self) -> None:
        """Cut the gateway socket as a network failure would (close 4000): the bot resumes."""
        for session in self.sessions.values():
            if session.ws is not None and not session.ws.closed:
                ws, session.ws = session.ws, None
                await ws.close(code=4000, message=b"dropped by the fake")

    def expire_sessions(self) -> None:
        """Discord forgot the sessions (as after a long outage): the bot's next RESUME is
        refused with op 9 (not resumable), so it must IDENTIFY again."""
        for session in self.sessions.values():
            session.closed = True

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.ws is not None and not s.closed]

    async def wait_connected(self, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not self.live_sessions():
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not reconnect to the gateway")
            await asyncio.sleep(0.01)

    # --- REST -------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        body: Any = None
        files: list[Attachment] = []
        if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
            if request.content_type.startswith("multipart/"):
                body, files = await _multipart(request)
            else:
                raw = await request.read()
                body = json.loads(raw) if raw else None
        limited = next((r for r in self.rate_limits if r[0] == request.method
                        and re.search(r[1], path)), None)
        if limited is not None:
            self.rate_limits.remove(limited)
            self.calls.append(Call(request.method, path, 429, body, time.monotonic()))
            return web.Response(
                status=429, headers={"Content-Type": "application/json", "Via": "1.1 google",
                                     "Retry-After": str(limited[2]),
                                     "X-RateLimit-Scope": "user"},
                body=json.dumps({"message": "You are being rate limited.",
                                 "retry_after": limited[2], "global": False}).encode())
        status, answer = await self._route(request, path, body, files)
        call = Call(request.method, path, status, body, time.monotonic())
        self.calls.append(call)
        if status == 404 and isinstance(answer, dict) and answer.get("code") == 0:
            self.unknown_routes.append(f"{request.method} {path}")
        elif status >= 400 and status != 401:
            self.rejections.append(call)
            call.body = {"sent": body, "answer": answer}
        if isinstance(answer, web.StreamResponse):
            return answer
        if answer is None:
            return web.Response(status=status)
        return web.Response(status=status, body=json.dumps(answer).encode(),
                            headers={"Content-Type": "application/json"})

    async def _route(self, request: web.Request, path: str, body: Any,
                     files: list[Attachment]) -> tuple[int, Any]:
        method = request.method
        if path.startswith("/attachments/"):
            return self._download(path)
        if not path.startswith(API):
            return 404, {"message": "404: Not Found", "code": 0}
        path = path[len(API):]
        for pattern, verb, handler in self._routes():
            match = pattern.fullmatch(path)
            if match and verb == method:
                if not handler.__name__.startswith(("_interaction", "_webhook")):
                    if request.headers.get("Authorization") != f"Bot {self.token}":
                        return 401, {"message": "401: Unauthorized", "code": 0}
                return await handler(request, body, files, *match.groups())
        return 404, {"message": "404: Not Found", "code": 0}

    def _routes(self) -> list[tuple[re.Pattern[str], str, Callable[..., Awaitable[Any]]]]:
        table = [
            (r"/users/@me", "GET", self._me),
            (r"/users/@me/channels", "POST", self._open_dm),
            (r"/oauth2/applications/@me", "GET", self._application),
            (r"/applications/@me", "GET", self._application),
            (r"/gateway", "GET", self._gateway_info),
            (r"/gateway/bot", "GET", self._gateway_info),
            (r"/applications/(\d+)/commands", "PUT", self._put_commands),
            (r"/applications/(\d+)/guilds/(\d+)/commands", "PUT", self._put_commands),
            (r"/applications/(\d+)/commands", "GET", self._get_commands),
            (r"/applications/(\d+)/guilds/(\d+)/commands", "GET", self._get_commands),
            (r"/interactions/(\d+)/([^/]+)/callback", "POST", self._interaction_callback),
            (r"/webhooks/(\d+)/([^/]+)/messages/([^/]+)", "GET", self._webhook_get),
            (r"/webhooks/(\d+)/([^/]+)/messages/([^/]+)", "PATCH", self._webhook_edit),
            (r"/webhooks/(\d+)/([^/]+)/messages/([^/]+)", "DELETE", self._webhook_delete),
            (r"/webhooks/(\d+)/([^/]+)", "POST", self._webhook_followup),
            (r"/channels/(\d+)", "GET", self._get_channel),
            (r"/channels/(\d+)/messages", "POST", self._create_message),
            (r"/channels/(\d+)/messages", "GET", self._history),
            (r"/channels/(\d+)/messages/pins/(\d+)", "PUT", self._pin),
            (r"/channels/(\d+)/messages/pins/(\d+)", "DELETE", self._unpin),
            (r"/channels/(\d+)/messages/(\d+)", "GET", self._get_message),
            (r"/channels/(\d+)/messages/(\d+)", "PATCH", self._edit_message),
            (r"/channels/(\d+)/messages/(\d+)", "DELETE", self._delete_message),
            (r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", "PUT", self._react),
            (r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", "DELETE", self._unreact),
            (r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/(\d+)", "DELETE",
             self._unreact_user),
            (r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)", "GET", self._reaction_list),
            (r"/channels/(\d+)/messages/(\d+)/reactions", "DELETE", self._clear_reactions),
            (r"/channels/(\d+)/threads", "POST", self._create_thread),
            (r"/channels/(\d+)/messages/(\d+)/threads", "POST", self._create_thread),
            (r"/guilds/(\d+)/members/(\d+)", "GET", self._get_member),
        ]
        return [(re.compile(p), v, h) for p, v, h in table]

    async def _me(self, *_: Any) -> tuple[int, Any]:
        return 200, {**self.bot_user.payload(), "verified": True, "mfa_enabled": False,
                     "flags": 0}

    async def _application(self, *_: Any) -> tuple[int, Any]:
        return 200, {"id": str(self.application_id), "name": self.bot_user.name,
                     "description": "", "icon": None, "bot_public": True,
                     "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": 0,
                     "owner": self.owner.payload(), "summary": "",
                     "bot": self.bot_user.payload()}

    async def _gateway_info(self, *_: Any) -> tuple[int, Any]:
        return 200, {"url": str(self.gateway_url), "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}

    async def _put_commands(self, _r: web.Request, body: Any, _f: Any, app: str,
                            guild: str | None = None) -> tuple[int, Any]:
        if int(app) != self.application_id:
            return 403, {"message": "Missing Access", "code": 50001}
        problems = [p for i, c in enumerate(body or [])
                    for p in limits.check_command(c, f"{i}.")]
        if problems:
            return 400, _invalid(problems)
        self.command_syncs += 1
        scope = int(guild) if guild else None
        stored = []
        for command in body or []:
            old = next((c for c in self.commands.get(scope, [])
                        if c["name"] == command["name"]), None)
            stored.append({**command, "id": old["id"] if old else str(self.next_id()),
                           "application_id": str(self.application_id), "version": "1",
                           **({"guild_id": str(scope)} if scope else {})})
        self.commands[scope] = stored
        return 200, stored

    async def _get_commands(self, _r: web.Request, _b: Any, _f: Any, app: str,
                            guild: str | None = None) -> tuple[int, Any]:
        return 200, self.commands.get(int(guild) if guild else None, [])

    # interactions

    async def _interaction_callback(self, request: web.Request, body: Any,
                                    files: list[Attachment], interaction_id: str,
                                    token: str) -> tuple[int, Any]:
        found = self.interactions.get(int(interaction_id))
        if found is None or found.token != token:
            return 404, {"message": "Unknown interaction", "code": 10062}
        if found.answered.is_set():
            return 400, {"message": "Interaction has already been acknowledged.",
                         "code": 40060}
        elapsed = self.now() - found.created
        if elapsed > self.answer_deadline:
            self.late_answers.append(found)
            return 404, {"message": "Unknown interaction", "code": 10062}
        kind = body["type"]
        data = body.get("data") or {}
        if kind in (4, 7):
            if limits.too_large(sum(len(f.data) for f in files)):
                return 413, limits.TOO_LARGE
            problems = limits.check_message(data, files=len(files), partial=kind == 7)
            if problems:
                return 400, _invalid(problems)
        elif kind == 8:
            problems = limits.check_choices(data.get("choices") or [])
            if problems:
                return 400, _invalid(problems)
        elif kind == 9:
            problems = limits.check_components(data.get("components") or [])
            if not data.get("custom_id") or len(data["custom_id"]) > limits.CUSTOM_ID:
                problems.append("data.custom_id: must be 1 to 100 in length")
            if problems:
                return 400, _invalid(problems)
        found.response_type = kind
        found.answered_after = elapsed
        found.ephemeral = bool(data.get("flags", 0) & EPHEMERAL)
        message: dict[str, Any] | None = None
        if kind == 4:
            message = self._store_message(found.channel_id, self.bot_user, data, files,
                                          interaction=found)
            found.original_id = int(message["id"])
            found.result = message
            found.settled.set()
        elif kind == 5:
            message = self._store_message(found.channel_id, self.bot_user,
                                          {"content": "", "flags": data.get("flags", 0) | 128},
                                          [], interaction=found)
            found.original_id = int(message["id"])
        elif kind == 7:
            message = self._apply_edit(found.message_id, data, files)
            found.original_id = found.message_id
            found.result = message
            found.settled.set()
        elif kind == 6:
            found.original_id = found.message_id
        elif kind == 8:
            found.result = {"choices": data.get("choices") or []}
            found.settled.set()
        elif kind == 9:
            found.result = {"modal": data}
            found.settled.set()
        else:
            return 400, _invalid([f"type: unsupported callback type {kind}"])
        found.answered.set()
        answer = None
        if request.query.get("with_response") in ("1", "true", "True"):
            answer = {"interaction": {
                "id": str(found.id), "type": found.type,
                "response_message_id": str(found.original_id) if found.original_id else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": found.ephemeral}}
            if message is not None:
                answer["resource"] = {"type": kind, "message": message}
            return 200, answer
        return 204, None

    def _by_token(self, app: str, token: str) -> tuple[Interaction | None, tuple[int, Any]]:
        found = next((i for i in self.interactions.values() if i.token == token), None)
        if int(app) != self.application_id or found is None:
            return None, (404, {"message": "Unknown Webhook", "code": 10015})
        if self.now() - found.created > limits.TOKEN_LIFE_S:
            return None, (401, {"message": "Invalid Webhook Token", "code": 50027})
        if not found.answered.is_set():
            return None, (404, {"message": "Unknown Webhook", "code": 10015})
        return found, (200, None)

    def _message_for(self, found: Interaction, message_ref: str) -> dict[str, Any] | None:
        mid = found.original_id if message_ref == "@original" else int(message_ref)
        return self.messages.get(mid) if mid else None

    async def _webhook_get(self, _r: web.Request, _b: Any, _f: Any, app: str, token: str,
                           ref: str) -> tuple[int, Any]:
        found, error = self._by_token(app, token)
        if found is None:
            return error
        message = self._message_for(found, ref)
        return (200, message) if message else (404, {"message": "Unknown Message",
                                                     "code": 10008})

    async def _webhook_edit(self, _r: web.Request, body: Any, files: list[Attachment],
                            app: str, token: str, ref: str) -> tuple[int, Any]:
        found, error = self._by_token(app, token)
        if found is None:
            return error
        message = self._message_for(found, ref)
        if message is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        if limits.too_large(sum(len(f.data) for f in files)):
            return 413, limits.TOO_LARGE
        problems = limits.check_message(body or {}, files=len(files), partial=True)
        if problems:
            return 400, _invalid(problems)
        edited = self._apply_edit(int(message["id"]), body or {}, files)
        edited["flags"] = edited.get("flags", 0) & ~128
        if ref == "@original" or int(ref) == found.original_id:
            found.result = edited
            found.settled.set()
        return 200, edited

    async def _webhook_delete(self, _r: web.Request, _b: Any, _f: Any, app: str, token: str,
                              ref: str) -> tuple[int, Any]:
        found, error = self._by_token(app, token)
        if found is None:
            return error
        message = self._message_for(found, ref)
        if message is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        self.messages.pop(int(message["id"]), None)
        return 204, None

    async def _webhook_followup(self, _r: web.Request, body: Any, files: list[Attachment],
                                app: str, token: str) -> tuple[int, Any]:
        found, error = self._by_token(app, token)
        if found is None:
            return error
        if limits.too_large(sum(len(f.data) for f in files)):
            return 413, limits.TOO_LARGE
        problems = limits.check_message(body or {}, files=len(files))
        if problems:
            return 400, _invalid(problems)
        message = self._store_message(found.channel_id, self.bot_user, body or {}, files,
                                      interaction=found)
        if not found.settled.is_set() and found.response_type in (5, 6):
            found.result = message
            found.settled.set()
        return 200, message

    # channels and messages

    def _store_message(self, channel_id: int, author: User, data: dict[str, Any],
                       files: list[Attachment], *, interaction: Interaction | None = None
                       ) -> dict[str, Any]:
        message_id = self.next_id()
        attachments = [self._attachment_payload(f) for f in files]
        message: dict[str, Any] = {
            "id": str(message_id), "channel_id": str(channel_id), "type": 0,
            "guild_id": str(self.guild_id),
            "content": data.get("content") or "", "author": author.payload(),
            "embeds": data.get("embeds") or [], "components": data.get("components") or [],
            "attachments": attachments, "flags": int(data.get("flags") or 0),
            "timestamp": "2026-01-01T00:00:00+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "pinned": False,
        }
        if interaction is not None:
            message["type"] = 20 if interaction.type == 2 else 0
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            message["interaction_metadata"] = {
                "id": str(interaction.id), "type": interaction.type,
                "user": interaction.user.payload(), "authorizing_integration_owners": {}}
        self.messages[message_id] = message
        return message

    def _attachment_payload(self, file: Attachment) -> dict[str, Any]:
        attachment_id = self.next_id()
        self.files[attachment_id] = file
        url = f"{self.base_url}/attachments/{attachment_id}/{file.filename}"
        return {"id": str(attachment_id), "filename": file.filename, "size": len(file.data),
                "url": url, "proxy_url": url, "content_type": file.content_type}

    def _apply_edit(self, message_id: int | None, data: dict[str, Any],
                    files: list[Attachment]) -> dict[str, Any]:
        message = self.messages[message_id] if message_id else {}
        for key in ("content", "embeds", "components", "flags"):
            if key in data and data[key] is not None:
                message[key] = data[key]
        if "attachments" in data or files:
            keep = {str(a.get("id")) for a in data.get("attachments") or []}
            message["attachments"] = [a for a in message.get("attachments", [])
                                      if a["id"] in keep]
            message["attachments"] += [self._attachment_payload(f) for f in files]
        message["edited_timestamp"] = "2026-01-01T00:00:01+00:00"
        return message

    def _download(self, path: str) -> tuple[int, Any]:
        parts = path.split("/")
        found = self.files.get(int(parts[2])) if len(parts) > 3 and parts[2].isdigit() else None
        if found is None:
            return 404, {"message": "404: Not Found", "code": 0}
        return 200, web.Response(body=found.data, content_type=found.content_type)

    def _channel(self, channel_id: str) -> Channel | None:
        return self.channels.get(int(channel_id))

    async def _get_channel(self, _r: web.Request, _b: Any, _f: Any, channel_id: str
                           ) -> tuple[int, Any]:
        channel = self._channel(channel_id)
        if channel is None:
            return 404, {"message": "Unknown Channel", "code": 10003}
        return 200, channel.payload(self.guild_id)

    async def _open_dm(self, _r: web.Request, body: Any, _f: Any) -> tuple[int, Any]:
        user = self.users.get(int((body or {}).get("recipient_id") or 0))
        if user is None:
            return 400, _invalid(["recipient_id: Value is not snowflake."])
        found = next((c for c in self.channels.values()
                      if c.type == 1 and c.recipient and int(c.recipient["id"]) == user.id), None)
        if found is None:
            found = Channel(self.next_id(), "", 1, recipient=user.payload())
            self.channels[found.id] = found
        return 200, found.payload(self.guild_id)

    async def _create_message(self, _r: web.Request, body: Any, files: list[Attachment],
                              channel_id: str) -> tuple[int, Any]:
        channel = self._channel(channel_id)
        if channel is None:
            return 404, {"message": "Unknown Channel", "code": 10003}
        if channel.recipient and int(channel.recipient["id"]) in self.dms_closed:
            return 403, {"message": "Cannot send messages to this user", "code": 50007}
        if limits.too_large(sum(len(f.data) for f in files)):
            return 413, limits.TOO_LARGE
        problems = limits.check_message(body or {}, files=len(files))
        if problems:
            return 400, _invalid(problems)
        nonce = (body or {}).get("nonce")
        if nonce is not None and len(str(nonce)) > 25:
            return 400, _invalid(["nonce: Must be 25 or fewer in length."])
        if nonce is not None and (body or {}).get("enforce_nonce"):
            # Discord: the same author's message with this nonce in the past few minutes is
            # returned instead of creating a new one.
            seen = self.nonces.get((self.bot_user.id, str(nonce)))
            if seen and self.now() - seen[1] < NONCE_WINDOW_S and seen[0] in self.messages:
                return 200, self.messages[seen[0]]
        message = self._store_message(int(channel_id), self.bot_user, body or {}, files)
        if nonce is not None:
            message["nonce"] = str(nonce)
            self.nonces[(self.bot_user.id, str(nonce))] = (int(message["id"]), self.now())
        return 200, message

    async def _history(self, request: web.Request, _b: Any, _f: Any, channel_id: str
                       ) -> tuple[int, Any]:
        limit = int(request.query.get("limit", 50))
        found = [m for m in self.messages.values() if m["channel_id"] == channel_id]
        return 200, list(reversed(found))[:limit]

    def _find(self, channel_id: str, message_id: str) -> dict[str, Any] | None:
        message = self.messages.get(int(message_id))
        return message if message and message["channel_id"] == channel_id else None

    async def _get_message(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                           message_id: str) -> tuple[int, Any]:
        message = self._find(channel_id, message_id)
        if message is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        return 200, self._with_reactions(message)

    async def _pin(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                   message_id: str) -> tuple[int, Any]:
        message = self._find(channel_id, message_id)
        if message is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        if not message["pinned"] and sum(
                1 for m in self.messages.values()
                if m["channel_id"] == channel_id and m["pinned"]) >= limits.PINS:
            return 400, {"message": "Maximum number of pins reached (250)", "code": 30003}
        message["pinned"] = True
        return 204, None

    async def _unpin(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                     message_id: str) -> tuple[int, Any]:
        message = self._find(channel_id, message_id)
        if message is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        message["pinned"] = False
        return 204, None

    async def _edit_message(self, _r: web.Request, body: Any, files: list[Attachment],
                            channel_id: str, message_id: str) -> tuple[int, Any]:
        message = self._find(channel_id, message_id)
        if message is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        if message["author"]["id"] != str(self.bot_user.id):
            return 403, {"message": "Cannot edit a message authored by another user",
                         "code": 50005}
        if limits.too_large(sum(len(f.data) for f in files)):
            return 413, limits.TOO_LARGE
        problems = limits.check_message(body or {}, files=len(files), partial=True)
        if problems:
            return 400, _invalid(problems)
        return 200, self._apply_edit(int(message_id), body or {}, files)

    async def _delete_message(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                              message_id: str) -> tuple[int, Any]:
        if self._find(channel_id, message_id) is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        self.messages.pop(int(message_id))
        return 204, None

    def _with_reactions(self, message: dict[str, Any]) -> dict[str, Any]:
        counts = self.reactions.get(int(message["id"]), {})
        reactions = [{"emoji": {"id": None, "name": emoji}, "count": len(users),
                      "me": self.bot_user.id in users, "count_details": {"burst": 0,
                      "normal": len(users)}, "burst_colors": [], "me_burst": False,
                      "burst_me": False, "burst_count": 0}
                     for emoji, users in counts.items() if users]
        return {**message, "reactions": reactions} if reactions else message

    async def _react(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                     message_id: str, emoji: str) -> tuple[int, Any]:
        if self._find(channel_id, message_id) is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        users = self.reactions.setdefault(int(message_id), {}).setdefault(unquote(emoji), [])
        if self.bot_user.id not in users:
            users.append(self.bot_user.id)
            await self._reaction_event("MESSAGE_REACTION_ADD", self.bot_user, channel_id,
                                       message_id, unquote(emoji))
        return 204, None

    async def _unreact(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                       message_id: str, emoji: str) -> tuple[int, Any]:
        return await self._remove_reaction(channel_id, message_id, unquote(emoji),
                                           self.bot_user)

    async def _unreact_user(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                            message_id: str, emoji: str, user_id: str) -> tuple[int, Any]:
        user = self.users.get(int(user_id))
        if user is None:
            return 404, {"message": "Unknown User", "code": 10013}
        return await self._remove_reaction(channel_id, message_id, unquote(emoji), user)

    async def _remove_reaction(self, channel_id: str, message_id: str, emoji: str,
                               user: User) -> tuple[int, Any]:
        if self._find(channel_id, message_id) is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        users = self.reactions.get(int(message_id), {}).get(emoji, [])
        if user.id in users:
            users.remove(user.id)
            await self._reaction_event("MESSAGE_REACTION_REMOVE", user, channel_id,
                                       message_id, emoji)
        return 204, None

    async def _reaction_list(self, request: web.Request, _b: Any, _f: Any, channel_id: str,
                             message_id: str, emoji: str) -> tuple[int, Any]:
        if self._find(channel_id, message_id) is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        limit = min(int(request.query.get("limit", 25)), 100)
        after = int(request.query.get("after", 0))
        ids = sorted(self.reactions.get(int(message_id), {}).get(unquote(emoji), []))
        people = [self.users.get(i) or self.bot_user for i in ids if i > after][:limit]
        return 200, [u.payload() for u in people]

    async def _clear_reactions(self, _r: web.Request, _b: Any, _f: Any, channel_id: str,
                               message_id: str) -> tuple[int, Any]:
        if self._find(channel_id, message_id) is None:
            return 404, {"message": "Unknown Message", "code": 10008}
        await self.remove_all_reactions(int(message_id))
        return 204, None

    async def _create_thread(self, _r: web.Request, body: Any, _f: Any, channel_id: str,
                             message_id: str | None = None) -> tuple[int, Any]:
        if self._channel(channel_id) is None:
            return 404, {"message": "Unknown Channel", "code": 10003}
        name = (body or {}).get("name") or ""
        if not 0 < len(name) <= 100:
            return 400, _invalid(["name: must be 1 to 100 in length"])
        thread = Channel(int(message_id) if message_id else self.next_id(), name,
                         type=(body or {}).get("type", 11), parent_id=int(channel_id),
                         owner_id=self.bot_user.id)
        self.channels[thread.id] = thread
        payload = thread.payload(self.guild_id)
        self.threads.append(payload)
        return 201, payload

    async def _get_member(self, _r: web.Request, _b: Any, _f: Any, guild_id: str,
                          user_id: str) -> tuple[int, Any]:
        user = self.users.get(int(user_id))
        if user is None or int(guild_id) != self.guild_id:
            return 404, {"message": "Unknown Member", "code": 10007}
        payload = self.member_payload(user)
        payload.pop("permissions")
        return 200, payload

    # --- what users do ----------------------------------------------------------------------

    def as_user(self, user: User, channel: Channel | None = None) -> UserSession:
        return UserSession(self, user, channel or self.general)

    async def _reaction_event(self, name: str, user: User, channel_id: str | int,
                              message_id: str | int, emoji: str) -> None:
        data: dict[str, Any] = {"user_id": str(user.id), "channel_id": str(channel_id),
                                "message_id": str(message_id), "guild_id": str(self.guild_id),
                                "emoji": {"id": None, "name": emoji}, "type": 0,
                                "burst": False}
        if name == "MESSAGE_REACTION_ADD":
            data["member"] = self.member_payload(user)
            data["message_author_id"] = self.messages.get(int(message_id), {}).get(
                "author", {}).get("id")
        await self.dispatch(name, data)

    async def remove_all_reactions(self, message_id: int) -> None:
        self.reactions.pop(message_id, None)
        message = self.messages[message_id]
        await self.dispatch("MESSAGE_REACTION_REMOVE_ALL", {
            "channel_id": message["channel_id"], "message_id": str(message_id),
            "guild_id": str(self.guild_id)})

    async def remove_emoji_reactions(self, message_id: int, emoji: str) -> None:
        """A moderator clears one emoji from a message: MESSAGE_REACTION_REMOVE_EMOJI."""
        self.reactions.get(message_id, {}).pop(emoji, None)
        message = self.messages[message_id]
        await self.dispatch("MESSAGE_REACTION_REMOVE_EMOJI", {
            "channel_id": message["channel_id"], "message_id": str(message_id),
            "guild_id": str(self.guild_id), "emoji": {"id": None, "name": emoji}})

    async def delete_message(self, message_id: int) -> None:
        """A moderator deletes a message: MESSAGE_DELETE reaches the bot."""
        message = self.messages.pop(message_id)
        self.reactions.pop(message_id, None)
        await self.dispatch("MESSAGE_DELETE", {"id": str(message_id),
                                               "channel_id": message["channel_id"],
                                               "guild_id": str(self.guild_id)})

    def command_named(self, name: str) -> tuple[dict[str, Any], int | None]:
        for scope in (self.guild_id, None):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command, scope
        raise Rejected(f"/{name} is not a command the bot has synced")

    def reply_of(self, message: dict[str, Any], *, ephemeral: bool | None = None) -> Reply:
        return Reply(
            content=message.get("content"), embeds=message.get("embeds") or [],
            components=message.get("components") or [],
            ephemeral=bool(message.get("flags", 0) & EPHEMERAL) if ephemeral is None
            else ephemeral,
            message_id=int(message["id"]), channel_id=int(message["channel_id"]),
            attachments=message.get("attachments") or [])

    async def interact(self, user: User, channel: Channel, kind: int, data: dict[str, Any],
                       *, message: dict[str, Any] | None = None,
                       settle_timeout: float = 10.0) -> Reply:
        """Dispatch INTERACTION_CREATE and wait for what the user would see."""
        interaction = Interaction(id=self.next_id(), token=f"tok-{self.next_id()}", type=kind,
                                  user=user, channel_id=channel.id, created=self.now(),
                                  message_id=int(message["id"]) if message else None)
        self.interactions[interaction.id] = interaction
        payload: dict[str, Any] = {
            "id": str(interaction.id), "type": kind, "token": interaction.token, "version": 1,
            "application_id": str(self.application_id), "data": data,
            "guild_id": str(self.guild_id), "guild_locale": "en-US", "locale": "en-US",
            "channel_id": str(channel.id),
            "channel": {**channel.payload(self.guild_id), "id": str(channel.id)},
            "member": self.member_payload(user), "app_permissions": str((1 << 53) - 1),
            "attachment_size_limit": limits.UPLOAD_BYTES, "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)}, "context": 0,
        }
        if message is not None:
            payload["message"] = message
        await self.dispatch("INTERACTION_CREATE", payload)
        try:
            await asyncio.wait_for(interaction.answered.wait(), self.answer_deadline)
        except TimeoutError:
            self.failed_interactions.append(interaction)
            raise InteractionFailed(f"{user.name} saw 'This interaction failed' "
                                    f"({_describe(kind, data)})") from None
        try:
            await asyncio.wait_for(interaction.settled.wait(), settle_timeout)
        except TimeoutError:
            raise AssertionError(f"the bot deferred but never answered "
                                 f"({_describe(kind, data)})") from None
        result = interaction.result or {}
        if "choices" in result:
            return Reply(None, [], [], True, None, channel.id, choices=result["choices"])
        if "modal" in result:
            return Reply(None, [], [], True, None, channel.id, modal=result["modal"])
        return self.reply_of(result)


class UserSession:
    """A scripted person in the guild: what they type and click, and what they see back."""

    def __init__(self, fake: FakeDiscord, user: User, channel: Channel) -> None:
        self.fake = fake
        self.user = user
        self.channel = channel

    def _options(self, schema: list[dict[str, Any]], given: dict[str, Any],
                 resolved: dict[str, Any], focused: str | None) -> list[dict[str, Any]]:
        options = []
        known = {o["name"]: o for o in schema}
        for name in given:
            if name not in known:
                raise Rejected(f"the command has no option {name!r}; it has {sorted(known)}")
        for option in schema:
            name = option["name"]
            if name not in given:
                # While typing (autocomplete) Discord sends only what is filled in so far.
                if option.get("required") and focused is None:
                    raise Rejected(f"option {name!r} is required")
                continue
            value = given[name]
            kind = option["type"]
            entry: dict[str, Any] = {"name": name, "type": kind}
            if name == focused:
                entry["focused"] = True
                entry["value"] = str(value)
            elif kind == 11:
                payload = self.fake._attachment_payload(value)
                resolved.setdefault("attachments", {})[payload["id"]] = payload
                entry["value"] = payload["id"]
            elif kind in (6, 9) and isinstance(value, User):
                resolved.setdefault("users", {})[str(value.id)] = value.payload()
                member = self.fake.member_payload(value)
                member.pop("user")
                resolved.setdefault("members", {})[str(value.id)] = member
                entry["value"] = str(value.id)
            elif kind in (8, 9) and isinstance(value, Role):
                resolved.setdefault("roles", {})[str(value.id)] = value.payload()
                entry["value"] = str(value.id)
            elif kind == 7:
                channel = value
                allowed = option.get("channel_types")
                if allowed and channel.type not in allowed:
                    raise Rejected(f"option {name!r} only offers channels of types {allowed}")
                resolved.setdefault("channels", {})[str(channel.id)] = {
                    **channel.payload(self.fake.guild_id), "permissions": str((1 << 53) - 1)}
                entry["value"] = str(channel.id)
            elif kind in (4, 10):
                # Discord's client checks numbers against the option's bounds before sending.
                if isinstance(value, bool) or not isinstance(value, int | float) or (
                        kind == 4 and not isinstance(value, int)):
                    raise Rejected(f"option {name!r} takes a "
                                   f"{'whole number' if kind == 4 else 'number'}")
                if "min_value" in option and value < option["min_value"]:
                    raise Rejected(f"option {name!r} is at least {option['min_value']}")
                if "max_value" in option and value > option["max_value"]:
                    raise Rejected(f"option {name!r} is at most {option['max_value']}")
                entry["value"] = value if kind == 4 else float(value)
            elif kind == 5:
                entry["value"] = bool(value)
            else:
                text = str(value)
                if "min_length" in option and len(text) < option["min_length"]:
                    raise Rejected(f"option {name!r} is at least {option['min_length']} long")
                if "max_length" in option and len(text) > option["max_length"]:
                    raise Rejected(f"option {name!r} is at most {option['max_length']} long")
                if option.get("choices") and text not in [c["value"] for c in option["choices"]]:
                    raise Rejected(f"option {name!r} must be one of its choices")
                entry["value"] = text
            options.append(entry)
        return options

    def _command_data(self, path: str, given: dict[str, Any], focused: str | None = None
                      ) -> dict[str, Any]:
        names = path.split()
        command, scope = self.fake.command_named(names[0])
        resolved: dict[str, Any] = {}
        schema = command.get("options") or []
        chain: list[str] = []
        for name in names[1:]:
            sub = next((o for o in schema if o["name"] == name and o["type"] in (1, 2)), None)
            if sub is None:
                raise Rejected(f"/{' '.join([names[0], *chain])} has no subcommand {name!r}")
            chain.append(name)
            schema = sub.get("options") or []
        if any(o["type"] in (1, 2) for o in schema):
            raise Rejected(f"/{path} needs a subcommand")
        options = self._options(schema, given, resolved, focused)
        for depth in range(len(chain), 0, -1):
            sub = next(o for o in (_schema_at(command, chain[:depth - 1]))
                       if o["name"] == chain[depth - 1])
            options = [{"name": sub["name"], "type": sub["type"], "options": options}]
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1,
                                "options": options}
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    async def slash(self, path: str, **options: Any) -> Reply:
        """`/chapter claim chapter:7`: returns the message the user sees."""
        return await self.fake.interact(self.user, self.channel, 2,
                                        self._command_data(path, options))

    async def autocomplete(self, path: str, focused: str, typed: str = "",
                           **options: Any) -> list[dict[str, Any]]:
        data = self._command_data(path, {**options, focused: typed}, focused=focused)
        reply = await self.fake.interact(self.user, self.channel, 4, data)
        assert reply.choices is not None
        return reply.choices

    async def click(self, reply: Reply, label_or_custom_id: str) -> Reply:
        """Press a button on a message; returns the message as it then looks (or a new one)."""
        message = self.fake.messages.get(reply.message_id or 0)
        if message is None:
            raise Rejected("that message no longer exists")
        buttons = self.fake.reply_of(message).buttons
        button = next((b for b in buttons if label_or_custom_id in
                       (b.get("label"), b.get("custom_id"))), None)
        if button is None:
            raise Rejected(f"no button {label_or_custom_id!r} on the message")
        if button.get("disabled"):
            raise Rejected(f"the button {label_or_custom_id!r} is disabled")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        channel = self.fake.channels[int(message["channel_id"])]
        answer = await self.fake.interact(self.user, channel, 3, data,
                                          message=self.fake._with_reactions(message))
        return answer

    async def submit(self, modal: dict[str, Any], **values: str) -> Reply:
        """Fill in and submit a modal the bot opened."""
        rows = []
        for row in modal.get("components") or []:
            for field_ in row.get("components") or []:
                if field_.get("required", True) and field_["custom_id"] not in values:
                    raise Rejected(f"the modal field {field_['custom_id']!r} is required")
                rows.append({"type": 1, "components": [
                    {"type": 4, "custom_id": field_["custom_id"],
                     "value": values.get(field_["custom_id"], "")}]})
        data = {"custom_id": modal["custom_id"], "components": rows}
        return await self.fake.interact(self.user, self.channel, 5, data)

    async def react(self, reply: Reply | int, emoji: str) -> None:
        message_id = reply if isinstance(reply, int) else reply.message_id
        message = self.fake.messages[message_id or 0]
        users = self.fake.reactions.setdefault(int(message["id"]), {}).setdefault(emoji, [])
        if self.user.id not in users:
            users.append(self.user.id)
            await self.fake._reaction_event("MESSAGE_REACTION_ADD", self.user,
                                            message["channel_id"], message["id"], emoji)

    async def unreact(self, reply: Reply | int, emoji: str) -> None:
        message_id = reply if isinstance(reply, int) else reply.message_id
        message = self.fake.messages[message_id or 0]
        await self.fake._remove_reaction(message["channel_id"], message["id"], emoji,
                                         self.user)

    async def upload(self, *files: Attachment, content: str = "",
                     channel: Channel | None = None) -> dict[str, Any]:
        """Post a message with attachments (MESSAGE_CREATE reaches the bot).

        As on Discord, a bot without the message content intent gets the message with its
        content, attachments, embeds and components emptied, unless it is mentioned.
        """
        where = channel or self.channel
        message = self.fake._store_message(where.id, self.user, {"content": content},
                                           list(files))
        event = {**message, "member": _without_user(self.fake.member_payload(self.user))}
        mentioned = f"<@{self.fake.bot_user.id}>" in content
        await self.fake._flush_pending()
        for session in list(self.fake.sessions.values()):
            if session.closed:
                continue
            seen = event
            if not session.intents & MESSAGE_CONTENT and not mentioned:
                seen = {**event, "content": "", "attachments": [], "embeds": [],
                        "components": []}
            await self.fake._dispatch_to(session, "MESSAGE_CREATE", seen)
        return message


async def eventually(condition: Callable[[], object], within: float = 5.0) -> None:
    """Wait until `condition()` holds (events reach the bot asynchronously), or fail."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the expected state was not reached in time")
        await asyncio.sleep(0.01)


def _schema_at(command: dict[str, Any], chain: list[str]) -> list[dict[str, Any]]:
    schema = command.get("options") or []
    for name in chain:
        schema = next(o for o in schema if o["name"] == name).get("options") or []
    return schema


def _without_user(member: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in member.items() if k not in ("user", "permissions")}


def _describe(kind: int, data: dict[str, Any]) -> str:
    if kind in (2, 4):
        names = [data.get("name", "?")]
        options = data.get("options") or []
        while options and options[0].get("type") in (1, 2):
            names.append(options[0]["name"])
            options = options[0].get("options") or []
        return "/" + " ".join(names)
    return f"component {data.get('custom_id')}"


def _invalid(problems: list[str]) -> dict[str, Any]:
    return {"message": "Invalid Form Body", "code": 50035, "errors": {"_problems": problems}}


async def _multipart(request: web.Request) -> tuple[Any, list[Attachment]]:
    body: Any = None
    files: list[Attachment] = []
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        name = part.name or ""  # type: ignore[union-attr]
        data = await part.read()  # type: ignore[union-attr]
        if name == "payload_json":
            body = json.loads(data)
        elif name.startswith("files["):
            files.append(Attachment(part.filename or "file",  # type: ignore[union-attr]
                                    bytes(data),
                                    part.headers.get("Content-Type",  # type: ignore[union-attr]
                                                     "application/octet-stream")))
    return body, files
