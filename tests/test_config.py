"""The config: defaults, file, environment over file, secrets from *_FILE, located errors; and the
YAML loader that locates them (`monitor.yamlsource`)."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config import Settings, config_problems, load_settings
from monitor.yamlsource import SourceError, load_yaml_mapping, parse_yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dutywatch.yaml"
    path.write_text(
        "database_url: sqlite:////srv/dw.db\n"
        "listen: 0.0.0.0:9000\n"
        "calendar:\n"
        "  end_of_day: '17:30'\n"
        "smtp:\n"
        "  sender: a@b.cn\n"
        "  url: smtp://file:f1le@mail:25\n",
        encoding="utf-8",
    )
    return path


# --- defaults and the file -------------------------------------------------------------------


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.database_url == "sqlite:///var/dutywatch.db"
    assert settings.listen == "127.0.0.1:8080"
    assert settings.calendar.end_of_day == time(23, 59, 59)
    assert settings.calendar.overrides_dir == Path("config/calendar")
    assert settings.smtp.url is None
    assert settings.source == "(defaults)"


def test_values_come_from_the_file(config: Path) -> None:
    settings = load_settings(config, environ={})
    assert settings.database_url == "sqlite:////srv/dw.db"
    assert settings.listen == "0.0.0.0:9000"
    assert settings.calendar.end_of_day == time(17, 30)
    assert settings.smtp.sender == "a@b.cn"
    assert settings.source == str(config)


def test_the_file_may_be_named_by_dutywatch_config(config: Path) -> None:
    settings = load_settings(environ={"DUTYWATCH_CONFIG": str(config)})
    assert settings.listen == "0.0.0.0:9000"


def test_the_shipped_config_is_valid() -> None:
    settings = load_settings(ROOT / "config" / "dutywatch.yaml", environ={})
    assert settings.calendar.overrides_dir == Path("config/calendar")
    assert config_problems(ROOT / "config" / "dutywatch.yaml", environ={}) == []


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="config file not found"):
        load_settings(tmp_path / "missing.yaml", environ={})


def test_a_config_file_named_by_the_environment_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="config file not found"):
        load_settings(environ={"DUTYWATCH_CONFIG": str(tmp_path / "missing.yaml")})


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


# --- the environment wins over the file ------------------------------------------------------


def test_dutywatch_db_url_wins_over_the_file(config: Path) -> None:
    settings = load_settings(config, environ={"DUTYWATCH_DB_URL": "postgresql://db/dw"})
    assert settings.database_url == "postgresql://db/dw"


def test_the_db_option_wins_over_the_environment(config: Path) -> None:
    settings = load_settings(
        config, db_url="sqlite:///x.db", environ={"DUTYWATCH_DB_URL": "postgresql://db/dw"}
    )
    assert settings.database_url == "sqlite:///x.db"


def test_dutywatch_listen_wins_over_the_file(config: Path) -> None:
    assert load_settings(config, environ={"DUTYWATCH_LISTEN": "127.0.0.1:8181"}).listen == "127.0.0.1:8181"


def test_dutywatch_smtp_url_wins_over_the_file_and_keeps_the_rest_of_smtp(config: Path) -> None:
    settings = load_settings(config, environ={"DUTYWATCH_SMTP_URL": "smtps://u:p4ss@mail:465"})
    assert settings.smtp.url is not None
    assert settings.smtp.url.get_secret_value() == "smtps://u:p4ss@mail:465"
    assert settings.smtp.sender == "a@b.cn"


def test_dutywatch_smtp_url_file_is_read_and_stripped(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "smtp-url"
    secret.write_text("smtp://u:p4ss@mail:587?starttls=true\n", encoding="utf-8")
    settings = load_settings(config, environ={"DUTYWATCH_SMTP_URL_FILE": str(secret)})
    assert settings.smtp.url is not None
    assert settings.smtp.url.get_secret_value() == "smtp://u:p4ss@mail:587?starttls=true"


def test_the_variable_itself_wins_over_its_file(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "smtp-url"
    secret.write_text("smtp://from-file@mail:25\n", encoding="utf-8")
    settings = load_settings(
        config,
        environ={"DUTYWATCH_SMTP_URL": "smtp://from-env@mail:25", "DUTYWATCH_SMTP_URL_FILE": str(secret)},
    )
    assert settings.smtp.url is not None
    assert settings.smtp.url.get_secret_value() == "smtp://from-env@mail:25"


def test_an_unreadable_secret_file_is_a_located_error(config: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-secret"
    with pytest.raises(SourceError) as err:
        load_settings(config, environ={"DUTYWATCH_SMTP_URL_FILE": str(missing)})
    assert err.value.file == str(missing)
    assert "DUTYWATCH_SMTP_URL_FILE" in err.value.reason


def test_dutywatch_smtp_from_sets_the_sender(config: Path) -> None:
    assert load_settings(config, environ={"DUTYWATCH_SMTP_FROM": "dw@gov.cn"}).smtp.sender == "dw@gov.cn"


def test_an_empty_variable_changes_nothing(config: Path) -> None:
    settings = load_settings(config, environ={"DUTYWATCH_LISTEN": "", "DUTYWATCH_DB_URL": ""})
    assert (settings.listen, settings.database_url) == ("0.0.0.0:9000", "sqlite:////srv/dw.db")


def test_secrets_never_show_in_the_settings_repr(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "dingtalk"
    secret.write_text("SEC123\n", encoding="utf-8")
    settings = load_settings(
        config,
        environ={
            "DUTYWATCH_SMTP_URL": "smtp://u:p4ss@mail:25",
            "DUTYWATCH_WECOM_KEY": "wk-secret",
            "DUTYWATCH_DINGTALK_SECRET_FILE": str(secret),
        },
    )
    vendors = settings.notify.vendors
    assert vendors.wecom_key is not None and vendors.wecom_key.get_secret_value() == "wk-secret"
    assert vendors.dingtalk_secret is not None and vendors.dingtalk_secret.get_secret_value() == "SEC123"
    shown = repr(settings) + str(settings)
    assert "p4ss" not in shown and "wk-secret" not in shown and "SEC123" not in shown


# --- errors ---------------------------------------------------------------------------------------


def test_a_bad_value_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tick_seconds: 60\nlisten: nowhere\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_settings(path, environ={})
    assert str(err.value).startswith(f"{path}:2: listen")


def test_a_bad_nested_value_is_reported_at_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("ingest:\n  earliest: 2000-01-01\n  max_batch: 0\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_settings(path, environ={})
    assert str(err.value).startswith(f"{path}:3: ingest.max_batch")


def test_check_config_lists_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tick_seconds: 60\nlisten: nowhere\ningest:\n  max_batch: 0\n", encoding="utf-8")
    problems = [str(p) for p in config_problems(path, environ={})]
    assert len(problems) == 2
    assert problems[0].startswith(f"{path}:2: listen")
    assert problems[1].startswith(f"{path}:4: ingest.max_batch")


def test_a_bad_value_from_the_environment_names_the_variable_not_the_file(config: Path) -> None:
    with pytest.raises(SourceError) as err:
        load_settings(config, environ={"DUTYWATCH_LISTEN": "nowhere"})
    assert err.value.file == "$DUTYWATCH_LISTEN"
    assert "listen must be host:port" in err.value.reason


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("tick_seconds: 60\ntick_secs: 60\n", 2, "tick_secs"),
        ("calendar:\n  overrides_dir: x\n  end_of_days: '17:00'\n", 3, "calendar.end_of_days"),
    ],
)
def test_an_unknown_key_is_refused_at_its_line(tmp_path: Path, text: str, line: int, key: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_settings(path, environ={})
    assert str(err.value).startswith(f"{path}:{line}: {key}")


KNOWN = "channels are console, file, email, sms-aliyun, sms-tencent, sms-http, wecom, dingtalk, webhook"


@pytest.mark.parametrize(
    ("text", "line", "where", "name"),
    [
        ("notify:\n  channels: [email, sms-aliyn]\n", 2, "notify.channels.1", "sms-aliyn"),
        ("notify:\n  channels:\n    - email\n    - wechat\n", 4, "notify.channels.1", "wechat"),
        (
            "notify:\n  quiet_hours:\n    sms-tencnt: 22:00-08:00\n",
            3,
            "notify.quiet_hours.sms-tencnt",
            "sms-tencnt",
        ),
        (
            "notify:\n  rate_per_minute:\n    wecom: 20\n    dingtlk: 20\n",
            4,
            "notify.rate_per_minute.dingtlk",
            "dingtlk",
        ),
    ],
)
def test_an_unknown_channel_is_refused_at_load_naming_the_channels(
    tmp_path: Path, text: str, line: int, where: str, name: str
) -> None:
    """A typo used to load, and dead-lettered every message on it at send time (or, in quiet_hours
    and rate_per_minute, silently applied no limit)."""
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_settings(path, environ={})
    assert str(err.value) == f"{path}:{line}: {where}: Value error, unknown channel {name!r}; {KNOWN}"


def test_check_config_lists_each_unknown_channel(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "notify:\n"
        "  channels: [email, smss]\n"
        "  quiet_hours: {sms-http: 22:00-08:00, sms: 22:00-08:00}\n"
        "  rate_per_minute: {robot: 20}\n",
        encoding="utf-8",
    )
    problems = [str(p) for p in config_problems(path, environ={})]
    assert problems == [
        f"{path}:2: notify.channels.1: Value error, unknown channel 'smss'; {KNOWN}",
        f"{path}:4: notify.rate_per_minute.robot: Value error, unknown channel 'robot'; {KNOWN}",
        f"{path}:3: notify.quiet_hours.sms: Value error, unknown channel 'sms'; {KNOWN}",
    ]


def test_every_channel_name_and_the_defaults_load() -> None:
    notify = Settings.model_validate(
        {"notify": {"channels": KNOWN.removeprefix("channels are ").split(", ")}}
    ).notify
    assert notify.channels is not None and len(notify.channels) == 9
    assert set(notify.quiet_hours) == {"sms-aliyun", "sms-tencent", "sms-http"}
    assert notify.rate_per_minute == {"wecom": 20, "dingtalk": 20}


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- listen\n", encoding="utf-8")
    with pytest.raises(SourceError, match="mapping at the top level"):
        load_settings(path, environ={})


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.tick_seconds = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.calendar.end_of_day = time(17)  # type: ignore[misc]


# --- yamlsource: every value maps back to its line -----------------------------------------------

DOCUMENT = """\
# a comment
top: 1
nested:
  inner: two
  list:
    - first
    - second: 2
      third: 3
flow: {a: 1, b: [x, y]}
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 2),
        (("top",), 2),
        (("nested",), 3),
        (("nested", "inner"), 4),
        (("nested", "list"), 5),
        (("nested", "list", 0), 6),
        (("nested", "list", 1), 7),
        (("nested", "list", 1, "third"), 8),
        (("flow", "b", 1), 9),
    ],
)
def test_a_path_into_the_data_maps_to_its_line(path: tuple[str | int, ...], line: int) -> None:
    assert parse_yaml(DOCUMENT, "d.yaml").line_of(path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("missing",), 2),  # the document's first line
        (("nested", "missing"), 3),
        (("nested", "list", 7), 5),
    ],
)
def test_a_path_that_goes_nowhere_maps_to_its_deepest_parent(path: tuple[str | int, ...], line: int) -> None:
    assert parse_yaml(DOCUMENT, "d.yaml").line_of(path) == line


def test_a_located_error_reads_file_line_reason() -> None:
    error = parse_yaml(DOCUMENT, "d.yaml").error(("nested", "inner"), "not two")
    assert (error.file, error.line, error.reason, str(error)) == ("d.yaml", 4, "not two", "d.yaml:4: not two")


def test_dates_stay_text_for_the_caller_to_check() -> None:
    assert parse_yaml("day: 2024-02-30\n", "d.yaml").data == {"day": "2024-02-30"}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: 1\nb: [unclosed\n", 3),
        ("a: 1\n  b: 2\n", 2),
        ("a: 1\n---\nb: 2\n", 2),
    ],
)
def test_invalid_yaml_is_a_located_error(text: str, line: int) -> None:
    with pytest.raises(SourceError) as err:
        parse_yaml(text, "d.yaml")
    assert (err.value.line, err.value.reason.startswith("invalid YAML")) == (line, True)


def test_python_tags_are_refused() -> None:
    with pytest.raises(SourceError, match="invalid YAML"):
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", "d.yaml")


def test_a_file_that_is_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("单位: 区工信局\n".encode("gbk"))
    with pytest.raises(SourceError, match="not UTF-8"):
        load_yaml_mapping(path)


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Path) -> None:
    config = tmp_path / "dutywatch.yaml"
    config.write_text("http:\n  trusted_proxies: [10.0.0.0/8, proxy.example]\n", encoding="utf-8")
    [problem] = config_problems(config)
    assert "trusted_proxies" in str(problem) and "proxy.example" in str(problem)
