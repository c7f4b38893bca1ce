"""The deployment files: the example environment lists every setting with its true default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from studio.ops.settings import TEST_ONLY, Settings, _variable_name, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LINE = re.compile(r"^# ?([A-Z][A-Z0-9_]*)=(.*)$")


def _example() -> dict[str, str]:
    found = {}
    for line in (DEPLOY / "slate.env.example").read_text().splitlines():
        match = LINE.match(line)
        if match:
            value = match.group(2)
            # systemd, Compose and dotenv all take a single-quoted value literally.
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            found[match.group(1)] = value
    return found


def test_every_setting_is_listed() -> None:
    listed = _example()
    missing = [_variable_name(Settings, f) for f in Settings.model_fields
               if f not in TEST_ONLY and _variable_name(Settings, f) not in listed]
    assert missing == [], f"add these to deploy/slate.env.example: {missing}"
    # A test-only switch is never offered to a deployment.
    assert not {_variable_name(Settings, f) for f in TEST_ONLY} & set(listed)


def test_each_listed_value_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    listed = _example()
    for field in Settings.model_fields:
        if field in TEST_ONLY:
            continue
        name = _variable_name(Settings, field)
        for other in listed:
            monkeypatch.delenv(other, raising=False)
        value = listed[name]
        default = getattr(load_settings(), field)
        if value == "":
            assert default in (None, []), f"{name} shows no default but has {default!r}"
            continue
        monkeypatch.setenv(name, value)
        assert getattr(load_settings(), field) == default, f"{name}={value} is not the default"

