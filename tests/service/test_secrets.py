"""Secrets never leave: a daemon with every secret configured lives through failing deliveries on
every channel, bad tokens, a broken and a good reload, and errors; then everything it wrote
(its whole log), every API answer and every stored delivery error is searched for each secret,
and for the roster's phone numbers and email addresses in clear."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.clock import SHANGHAI, utcnow
from monitor.demo.district import generate_district
from tests.service.conftest import DUTYWATCH, cli, free_port

SECRETS = {
    "DUTYWATCH_WECOM_KEY": "wecom-key-6f1c0d93e2",
    "DUTYWATCH_DINGTALK_TOKEN": "dingtalk-token-51ab7e",
    "DUTYWATCH_DINGTALK_SECRET": "SECdingtalk-secret-a9f3",
    "DUTYWATCH_ALIYUN_ACCESS_KEY_SECRET": "aliyun-secret-77c2e1",
    "DUTYWATCH_TENCENT_SECRET_KEY": "tencent-secret-0d4b9a",
    "DUTYWATCH_WEBHOOK_SECRET": "webhook-secret-3e8f21",
}
SMTP_PASSWORD = "smtp-pass-c4d2b7"
HEADER_SECRET = "httpsms-header-secret-9a7e"


class Echo(BaseHTTPRequestHandler):
    """A vendor that refuses every request and echoes it back whole, as some gateways do in their
    error bodies: whatever a channel sends (keys in the URL, headers) comes back in the reply."""

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        echoed = f"{self.command} {self.path} {dict(self.headers)} {body}".encode()
        self.send_response(400)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(echoed)))
        self.end_headers()
        self.wfile.write(echoed)

    do_GET = do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


EVERY_CHANNEL = {"email", "wecom", "dingtalk", "webhook", "sms-http", "sms-aliyun", "sms-tencent"}


def _wait_until_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the daemon did not become ready"
        time.sleep(0.2)


def _wait_until_failed_on_every_channel(workdir: Path) -> str:
    """The outbox listing (JSON) once a delivery failed on every channel."""
    deadline = time.monotonic() + 90
    while True:
        failed = subprocess.run(
            [*DUTYWATCH, "--config", str(workdir / "dutywatch.yaml"), "outbox", "list", "--limit", "100000",
             "--format", "json"],
            cwd=workdir, capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        rows = json.loads(failed) if failed.strip() else []
        channels = {r["channel"] for r in rows if r.get("error")}
        if channels >= EVERY_CHANNEL:
            return failed
        assert time.monotonic() < deadline, f"deliveries not attempted on every channel: {channels}"
        time.sleep(1)


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_secret_or_contact_appears_in_logs_answers_or_stored_errors(
    workdir: Path, echo: str, log_format: str
) -> None:
    closed = free_port()  # nothing listens there: mail fails to connect
    config = yaml.safe_load((workdir / "dutywatch.yaml").read_text(encoding="utf-8"))
    config["notify"] = {
        "channels": ["email", "wecom", "dingtalk", "webhook", "sms-aliyun", "sms-tencent", "sms-http"],
        "dispatch_seconds": 0.5,
        "backoff_seconds": 0.5,
        "max_attempts": 2,
        "quiet_hours": {},
        "vendors": {
            "aliyun_access_key_id": "LTAI-id",
            "aliyun_sign_name": "宿豫营商",
            "aliyun_template_code": "SMS_1",
            "tencent_secret_id": "AKID-id",
            "tencent_sdk_app_id": "1400000000",
            "tencent_sign_name": "宿豫营商",
            "tencent_template_id": "1",
            "sms_http_url": f"{echo}/send",
            "sms_http_template": '{"to": "{{ phone }}", "text": "{{ text }}"}',
            "sms_http_headers": {"X-Api-Key": HEADER_SECRET},
            "webhook_url": f"{echo}/hook",
            "wecom_base_url": echo,
            "dingtalk_base_url": echo,
            "aliyun_base_url": echo,
            "tencent_base_url": echo,
        },
    }
    (workdir / "dutywatch.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert cli(workdir, "demo").returncode == 0
    token = cli(workdir, "token", "create", "--name", "ops", "--scopes", "read,admin,ingest").stdout.strip()
    port = free_port()
    env = {
        **os.environ,
        **SECRETS,
        "DUTYWATCH_LISTEN": f"127.0.0.1:{port}",
        "DUTYWATCH_LOG_FORMAT": log_format,
        "DUTYWATCH_SMTP_URL": f"smtp://dutywatch:{SMTP_PASSWORD}@127.0.0.1:{closed}",
    }
    log_path = workdir / "daemon.log"  # a file, not a pipe: nobody reads a pipe until the end
    log_file = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [*DUTYWATCH, "--config", str(workdir / "dutywatch.yaml"), "run"],
        cwd=workdir,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    answers: list[str] = []
    try:
        _wait_until_ready(url)
        # deliveries fail on every channel, each at least once
        failed = _wait_until_failed_on_every_channel(workdir)
        answers.append(failed)
        for path in ("/v1/alerts", "/v1/obligations", "/v1/audit", "/v1/waivers", "/readyz", "/metrics", "/"):
            answers.append(httpx.get(f"{url}{path}", headers=auth, timeout=30).text)
        answers.append(
            httpx.get(f"{url}/v1/alerts", headers={"Authorization": "Bearer dw_wrong"}, timeout=10).text
        )
        answers.append(httpx.post(f"{url}/v1/events", headers=auth, content=b"{broken", timeout=10).text)
        answers.append(httpx.post(f"{url}/-/reload", headers=auth, timeout=30).text)
        process.send_signal(signal.SIGHUP)
        time.sleep(1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code: int | None = process.wait(30)
        except subprocess.TimeoutExpired:
            code = None
            process.kill()
            process.wait(10)
        log_file.close()
        log = log_path.read_text(encoding="utf-8")
    assert code is not None, "the daemon did not stop on SIGTERM:\n" + "\n".join(log.splitlines()[-15:])

    # the failures were logged, in the format asked for
    if log_format == "json":
        assert '"level": "warning"' in log or '"level": "error"' in log
    else:
        assert " WARNING dutywatch.outbox: notification " in log
    written = "\n".join([log, *answers])
    for name, secret in [*SECRETS.items(), ("smtp password", SMTP_PASSWORD), ("http header", HEADER_SECRET)]:
        assert secret not in written, f"{name} leaked"
    assert token not in written
    roster = generate_district(utcnow().astimezone(SHANGHAI).date())[0]
    for official in roster["officials"]:
        for contact in (official.get("phone"), official.get("email")):
            if contact:
                assert contact not in log, f"{official['id']}'s contact appears in the log"
    # and no 11-digit mobile number at all, in any spelling
    assert not re.search(r"(?<!\d)1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)", log)
