"""The config: defaults, file, environment over file, secrets from *_FILE, located errors."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config import Settings, config_problems, load_settings
from monitor.yamlsource import SourceError


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.database_url == "sqlite:///var/dutywatch.db"
    assert settings.listen == "127.0.0.1:8080"
    assert settings.calendar.end_of_day == time(23, 59, 59)


def test_environment_wins_over_the_file_and_secrets_come_from_files(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "listen: 0.0.0.0:9000\ncalendar: {end_of_day: '17:30'}\nsmtp: {sender: a@b.cn}\n", encoding="utf-8"
    )
    secret = tmp_path / "smtp-url"
    secret.write_text("smtp://u:p4ss@mail:587?starttls=true\n", encoding="utf-8")
    settings = load_settings(
        config,
        environ={
            "DUTYWATCH_LISTEN": "127.0.0.1:8181",
            "DUTYWATCH_DB_URL": "postgresql://x/y",
            "DUTYWATCH_SMTP_URL_FILE": str(secret),
        },
    )
    assert settings.listen == "127.0.0.1:8181"
    assert settings.database_url == "postgresql://x/y"
    assert settings.calendar.end_of_day == time(17, 30)
    assert settings.smtp.sender == "a@b.cn"
    assert settings.smtp.url is not None and settings.smtp.url.get_secret_value().startswith("smtp://u:p4ss@")
    assert "p4ss" not in repr(settings)


def test_a_bad_value_is_reported_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("tick_seconds: 60\nlisten: nowhere\ningest:\n  max_batch: 0\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_settings(config, environ={})
    assert str(err.value).startswith(f"{config}:2: listen")
    problems = [str(p) for p in config_problems(config, environ={})]
    assert problems[0].startswith(f"{config}:2: listen") and problems[1].startswith(
        f"{config}:4: ingest.max_batch"
    )


def test_unknown_keys_are_refused_and_the_object_is_frozen(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("tick_secs: 60\n", encoding="utf-8")
    with pytest.raises(SourceError, match="tick_secs"):
        load_settings(config, environ={})
    with pytest.raises(ValidationError):
        Settings().tick_seconds = 5  # type: ignore[misc]


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="config file not found"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_vendor_secrets_come_from_the_environment_or_files(tmp_path: Path) -> None:
    secret = tmp_path / "dingtalk"
    secret.write_text("SEC123\n", encoding="utf-8")
    settings = load_settings(
        None,
        environ={
            "DUTYWATCH_WECOM_KEY": "wk",
            "DUTYWATCH_DINGTALK_SECRET_FILE": str(secret),
            "DUTYWATCH_CONFIG": "",
        },
    )
    vendors = settings.notify.vendors
    assert vendors.wecom_key is not None and vendors.wecom_key.get_secret_value() == "wk"
    assert vendors.dingtalk_secret is not None and vendors.dingtalk_secret.get_secret_value() == "SEC123"
    assert "wk" not in repr(settings) and "SEC123" not in repr(settings)


def test_inhibitions_come_from_config_and_name_known_rules(tmp_path: Path) -> None:
    assert [(r.source, r.targets) for r in Settings().inhibit] == [
        ("pairing-monthly-visit", ("pairing-monthly-contact",))
    ]
    config = tmp_path / "c.yaml"
    config.write_text(
        "inhibit:\n  - {source: pairing-monthly-visits, targets: [pairing-monthly-contact]}\n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="unknown rule 'pairing-monthly-visits'"):
        load_settings(config, environ={})
