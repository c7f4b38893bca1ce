"""Settings: typed, read from the environment and .env, invalid values named, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.ops.settings import SettingsError, load_settings


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.data_dir == Path("data")
    assert settings.database_path == Path("data/slate.db")
    assert settings.media_path == Path("data/media")
    assert settings.max_chapters_per_creator == 2
    assert str(settings.cut_time) == "04:00:00"


def test_env_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "SLATE_MAX_CHAPTERS_PER_CREATOR=3\nSLATE_TIMEZONE=Europe/Paris\n"
    )
    monkeypatch.setenv("SLATE_DATA_DIR", str(tmp_path / "film"))
    monkeypatch.setenv("SLATE_COMFYUI_URLS", "http://127.0.0.1:8188, http://127.0.0.1:8189")
    settings = load_settings()
    assert settings.max_chapters_per_creator == 3
    assert settings.timezone == "Europe/Paris"
    assert settings.database_path == tmp_path / "film" / "slate.db"
    assert settings.comfyui_urls == ["http://127.0.0.1:8188", "http://127.0.0.1:8189"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SLATE_MAX_CHAPTERS_PER_CREATOR", "lots",
         "SLATE_MAX_CHAPTERS_PER_CREATOR: expected a whole number"),
        ("SLATE_MAX_CHAPTERS_PER_CREATOR", "0",
         "SLATE_MAX_CHAPTERS_PER_CREATOR: expected a value of at least 1"),
        ("SLATE_TIMEZONE", "Mars/Olympus", "SLATE_TIMEZONE: expected an IANA time zone"),
        ("SLATE_CUT_TIME", "25:99", "SLATE_CUT_TIME: expected a time of day as HH:MM"),
        ("SLATE_LOG_LEVEL", "LOUD", "SLATE_LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR"),
        ("DISCORD_GUILD_ID", "my-server", "DISCORD_GUILD_ID: expected a whole number"),
        ("SLATE_PROVIDER_CONCURRENCY", "{runway: 2",
         "SLATE_PROVIDER_CONCURRENCY: expected a JSON object"),
        ("SLATE_CUTS_URL", "films.example.org/cuts",
         "SLATE_CUTS_URL: expected a URL starting with http:// or https://"),
    ],
)
def test_invalid_value_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_secrets_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    token = "MTEx.secret-discord-token"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    monkeypatch.setenv("NOTION_TOKEN", "ntn_secret_value")
    settings = load_settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == token
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert token not in shown and "ntn_secret_value" not in shown
