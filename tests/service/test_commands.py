"""`dutywatch check` and `dutywatch token`: the probe reads the heartbeat; tokens are shown once
and stored only as hashes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import cli
from monitor.clock import utcnow
from monitor.config import Settings
from monitor.runtime.heartbeat import write_heartbeat
from monitor.store.db import make_engine, session_factory
from monitor.store.models import ApiToken
from monitor.tokens import authenticate, hash_token


def dutywatch(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dutywatch.yaml"
    path.write_text(
        f"heartbeat_file: {tmp_path}/heartbeat\nheartbeat_max_age_seconds: 120\n", encoding="utf-8"
    )
    return path


def test_check_is_healthy_with_a_fresh_heartbeat(config: Path) -> None:
    write_heartbeat(config.parent / "heartbeat", utcnow() - timedelta(seconds=30))
    code, output = dutywatch("--config", str(config), "check")
    assert code == 0 and "healthy" in output


def test_check_is_unhealthy_when_the_heartbeat_is_stale(config: Path) -> None:
    write_heartbeat(config.parent / "heartbeat", utcnow() - timedelta(seconds=121))
    code, output = dutywatch("--config", str(config), "check")
    assert code == 1 and "unhealthy: last tick 121s ago" in output


def test_a_token_is_shown_once_stored_hashed_and_refused_once_revoked(db_url: str) -> None:
    code, token = dutywatch(
        "--db", db_url, "token", "create", "--name", "platform", "--scopes", "ingest,read"
    )
    token = token.strip()
    assert code == 0 and token.startswith("dw_")
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            row = session.scalars(select(ApiToken)).one()
            assert (row.name, row.sha256, row.scopes) == ("platform", hash_token(token), "ingest,read")
            principal = authenticate(session, Settings(), token)
            assert principal is not None and principal.scopes == {"ingest", "read"}
        code, listing = dutywatch("--db", db_url, "token", "list")
        assert code == 0 and "platform" in listing and token not in listing
        assert dutywatch("--db", db_url, "token", "revoke", "platform")[0] == 0
        with session_factory(engine)() as session:
            assert authenticate(session, Settings(), token) is None
    finally:
        engine.dispose()


def test_a_token_with_an_unknown_scope_is_not_made(db_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", db_url, "token", "create", "--name", "x", "--scopes", "root"])
    assert result.exit_code == 2 and "scopes must be among ingest, read, admin" in result.output
