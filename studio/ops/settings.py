"""Slate's settings: one typed object read from the environment and an optional `.env`.

Every variable is prefixed `SLATE_` except the conventional secrets (`DISCORD_TOKEN`,
`NOTION_TOKEN`) and the providers' own key names. Secrets are `SecretStr`, so a settings
object printed or logged shows `**********`, never the value.
"""

from __future__ import annotations

import re
from datetime import time
from fractions import Fraction
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

# Settings for the test suite alone: never documented for deployments, never set on a server.
TEST_ONLY = frozenset({"test_allow_loopback_urls"})


class SettingsError(Exception):
    """An invalid setting: the message is one line naming the variable and what is allowed."""


def _alias(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SLATE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # Where things live. Database, media and cuts default to folders under the data dir.
    data_dir: Path = Field(Path("./data"), description="holds the database, media and cuts")
    database: Path | None = Field(None, description="SQLite file (default: DATA_DIR/slate.db)")
    media_dir: Path | None = Field(None, description="media store (default: DATA_DIR/media)")

    # Production rules.
    producer_role: str = Field("Producer", min_length=1, max_length=100)
    max_chapters_per_creator: int = Field(2, ge=1, le=100)
    timezone: str = Field("UTC", description="IANA time zone for the schedule and nightly cut")
    cut_time: time = Field(time(4, 0), description="nightly cut time, HH:MM in TIMEZONE")
    shot_list_max_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    upload_max_bytes: int = Field(200 * 1024 * 1024, ge=1024, description="largest take or stem")
    take_max_seconds: float = Field(120.0, gt=0, description="longest take or stem accepted")
    upload_fetch_seconds: float = Field(900.0, gt=0, le=24 * 3600,
                                        description="time limit of fetching a take's link")
    # TEST ONLY: lets links lead to 127.0.0.1/::1 (and over http) for the loopback fakes.
    # Never set it on a real server: a link could then reach services on the bot's machine.
    test_allow_loopback_urls: bool = Field(False, description="tests only: fetch loopback links")
    # Pictures past Pillow's own limit (89.5 MP) would fail the thumbnail after storing.
    upload_max_pixels: int = Field(50_000_000, ge=1_000_000, le=89_478_485,
                                   description="largest picture (width x height) accepted")

    # The cut: the production's profile (small previz defaults) and what is kept.
    cut_width: int = Field(640, ge=16, le=7680, multiple_of=2, description="cut picture width")
    cut_height: int = Field(360, ge=16, le=4320, multiple_of=2, description="cut picture height")
    cut_fps: str = Field("24", description="cut frame rate, e.g. 24, 30 or 24000/1001")
    cut_lufs: float = Field(-14.0, ge=-40, le=-5, description="loudness target of the mix")
    cut_keep: int = Field(5, ge=1, le=1000, description="published cuts kept on disk")
    cut_duration_from: str = Field("plan", pattern=r"^(plan|take)$",
                                   description="a shot lasts its planned length or its take's")
    cut_credits_seconds: float = Field(4.0, ge=0, le=60,
                                       description="seconds each end-credits card is held")
    cut_preview_max_bytes: int = Field(10 * 1024 * 1024, ge=1024,
                                       description="largest preview posted to Discord")
    cut_stem_tracks: bool = Field(False, description="the film also carries the takes' sound "
                                                     "and each stem kind as tracks of their own")
    cuts_url: str | None = Field(None, pattern=r"^https?://",
                                 description="public URL where DATA_DIR/cuts is served, for "
                                             "links to cuts too big to post")

    handoff_start_tc: str = Field("01:00:00:00", pattern=r"^\d\d:[0-5]\d:[0-5]\d:\d\d$",
                                  description="record timecode of the editor's hand-off's "
                                              "first frame (EDL, FCP XML, .otio)")

    # Logging.
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    # Discord.
    discord_token: SecretStr | None = Field(None, validation_alias=_alias("DISCORD_TOKEN"))
    discord_guild_id: int | None = Field(
        None, validation_alias=_alias("DISCORD_GUILD_ID"), ge=0
    )

    # Notion.
    notion_token: SecretStr | None = Field(None, validation_alias=_alias("NOTION_TOKEN"))
    notion_base_url: str = Field("https://api.notion.com", pattern=r"^https?://",
                                 description="Notion's API root (tests point it at a fake)")
    notion_rate: float = Field(3.0, gt=0, le=100, description="average requests per second")
    notion_timeout: float = Field(30.0, gt=0, le=300, description="seconds per request")
    notion_push_delay: float = Field(30.0, ge=0, le=3600,
                                     description="quiet seconds after a change before a push")
    notion_pull_interval: float = Field(300.0, ge=10, le=86400,
                                        description="seconds between automatic pulls")
    board_refresh_seconds: float = Field(
        2.0, gt=0, le=3600, description="the board message is edited at most this often")
    notion_pull_margin: float = Field(120.0, ge=60, le=3600,
                                      description="pull overlap, for minute-rounded edit times")
    notion_workers: int = Field(3, ge=1, le=10, description="writes in flight at once")
    notion_media_url: str | None = Field(None, pattern=r"^https?://",
                                         description="public URL of the media folder, for links")

    # Generation providers: their own conventional key names.
    runway_api_secret: SecretStr | None = Field(
        None, validation_alias=_alias("RUNWAYML_API_SECRET")
    )
    replicate_api_token: SecretStr | None = Field(
        None, validation_alias=_alias("REPLICATE_API_TOKEN")
    )
    elevenlabs_api_key: SecretStr | None = Field(
        None, validation_alias=_alias("ELEVENLABS_API_KEY")
    )
    comfyui_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated ComfyUI server URLs"
    )

    # Generation: providers, the job queue and its limits.
    default_provider: str = Field("animatic", pattern=r"^(animatic|comfyui|runway|replicate)$",
                                  description="provider for image, video and upscale jobs")
    voice_provider: str = Field("animatic", pattern=r"^(animatic|elevenlabs)$")
    animatic_width: int = Field(320, ge=64, le=3840, description="animatic frame width (px)")
    provider_concurrency: dict[str, int] = Field(
        default_factory=lambda: {"animatic": 4, "comfyui": 2, "runway": 2, "replicate": 4,
                                 "elevenlabs": 2},
        description="jobs in flight per provider, JSON object")
    member_max_concurrent: int = Field(3, ge=1, le=1000, description="jobs in flight per member")
    member_max_per_day: int = Field(200, ge=1, description="jobs a member may start per day")
    generation_budget: float = Field(0.0, ge=0, description="production budget USD (0: none)")
    job_poll_seconds: float = Field(2.0, gt=0, le=600, description="interval between polls")
    job_backoff_seconds: float = Field(2.0, gt=0, description="first retry delay, doubled")
    job_backoff_max_seconds: float = Field(120.0, gt=0)
    job_max_attempts: int = Field(6, ge=1, le=100, description="submit tries before a job fails")
    job_poll_give_up_hours: float = Field(
        24.0, gt=0, le=24 * 30,
        description="hours a submitted job is polled through outages before it fails")
    job_lease_seconds: float = Field(
        60.0, ge=0.5, le=3600,
        description="how long a worker's claim on a job lasts unrenewed (a crash frees it)")
    preview_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Discord upload cap")
    runway_base_url: str = Field("https://api.dev.runwayml.com", pattern=r"^https?://")
    runway_video_model: str = "gen4_turbo"
    runway_image_model: str = "gen4_image"
    replicate_base_url: str = Field("https://api.replicate.com", pattern=r"^https?://")
    replicate_models: dict[str, str] = Field(
        default_factory=lambda: {"image": "black-forest-labs/flux-schnell",
                                 "video": "minimax/video-01",
                                 "upscale": "nightmareai/real-esrgan"})
    elevenlabs_base_url: str = Field("https://api.elevenlabs.io", pattern=r"^https?://")
    elevenlabs_model: str = "eleven_multilingual_v2"
    comfyui_workflows: Path | None = Field(None, description="folder of <kind>.json templates")

    # Operations: health and metrics, log format, backups.
    health_port: int = Field(
        0, ge=0, le=65535, description="local HTTP port for /livez, /readyz, /metrics (0 = off)"
    )
    health_host: str = Field(
        "127.0.0.1", min_length=1, description="address the health port listens on"
    )
    log_format: str = Field("text", pattern=r"^(text|json)$")
    backup_nightly: bool = Field(False, description="write a backup every night at BACKUP_TIME")
    backup_time: time = Field(time(3, 30), description="nightly backup time, HH:MM in TIMEZONE")
    backup_keep: int = Field(7, ge=1, le=1000, description="backups kept in DATA_DIR/backups")

    # The web face (web/): the board and the screening room, with health and metrics.
    web_bind: str = Field("127.0.0.1:8080", description="HOST:PORT the web face listens on, or off")
    public_url: str | None = Field(None, pattern=r"^https?://",
                                   description="the web face's public address, for links")
    web_secret: SecretStr | None = Field(None, description="key signing the web face's links")
    web_link_days: float = Field(7.0, gt=0, le=365, description="days a signed link lasts")
    web_public: bool = Field(False, description="serve the pages to anyone, without a link")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("an IANA time zone such as UTC or Europe/Paris") from None
        return value

    @field_validator("cut_time", "backup_time", mode="before")
    @classmethod
    def _hh_mm(cls, value: object) -> object:
        if isinstance(value, str) and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("a time of day as HH:MM, e.g. 04:00")
        return value

    @field_validator("web_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        value = value.strip()
        found = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d{1,5})", value)
        if value != "off" and (found is None or int(found.group(2)) > 65535):
            raise ValueError("HOST:PORT such as 127.0.0.1:8080 (port 0: any free one), or off")
        return value

    @field_validator("cut_fps")
    @classmethod
    def _rational_fps(cls, value: str) -> str:
        if not re.fullmatch(r"\d{1,6}(/\d{1,6})?", value.strip()):
            raise ValueError("a frame rate such as 24, 30 or 24000/1001")
        rate = Fraction(value.strip())
        if not 1 <= rate <= 120:
            raise ValueError("a frame rate between 1 and 120")
        return value.strip()

    @field_validator("comfyui_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            urls = [part.strip() for part in value.split(",") if part.strip()]
            for url in urls:
                if not re.match(r"^https?://", url):
                    raise ValueError("comma-separated http(s) URLs")
            return urls
        return value

    # Derived paths: one place decides the layout under the data dir.
    @property
    def database_path(self) -> Path:
        return self.database or self.data_dir / "slate.db"

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def cuts_path(self) -> Path:
        return self.data_dir / "cuts"

    @property
    def cache_path(self) -> Path:
        return self.data_dir / "cache"

    @property
    def fps(self) -> Fraction:
        return Fraction(self.cut_fps)

    @property
    def backups_path(self) -> Path:
        return self.data_dir / "backups"

    @property
    def web_address(self) -> tuple[str, int] | None:
        """(host, port) from WEB_BIND; None when the web face is off."""
        if self.web_bind == "off":
            return None
        host, _, port = self.web_bind.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _variable_name(settings_cls: type[BaseSettings], field: str) -> str:
    info = settings_cls.model_fields.get(field)
    alias = getattr(info, "validation_alias", None) if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"SLATE_{field.upper()}"


def _allowed(error: dict) -> str:
    ctx = error.get("ctx") or {}
    kind = error.get("type", "")
    if kind == "value_error":
        return str(ctx.get("error", error.get("msg", "")))
    if kind == "greater_than_equal":
        return f"a value of at least {ctx.get('ge')}"
    if kind == "greater_than":
        return f"a value above {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"a value of at most {ctx.get('le')}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        if pattern == r"^https?://":
            return "a URL starting with http:// or https://"
        return "one of " + pattern.strip("^$()").replace("|", ", ")
    if kind.startswith("int_"):
        return "a whole number"
    return str(error.get("msg", "")).lower()


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise SettingsError with one line naming the bad variable.

    The offending value is never repeated in the message: it may be a secret.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except UnicodeDecodeError as exc:  # only the .env file is read as bytes
        raise SettingsError(f"the .env file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}"
                            f" at offset {exc.start}): save it as UTF-8") from None
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        field = str(first["loc"][0]) if first.get("loc") else "?"
        raise SettingsError(
            f"invalid setting {_variable_name(Settings, field)}: expected {_allowed(first)}"
        ) from None
    except SourceError as exc:  # a JSON-valued variable that is not JSON
        named = re.search(r'field "(\w+)"', str(exc))
        field = named.group(1) if named else "?"
        raise SettingsError(
            f"invalid setting {_variable_name(Settings, field)}: expected a JSON object"
        ) from None
