"""Headless Chromium driven over the W3C WebDriver protocol (Debian's chromium + chromedriver).

The protocol is JSON over HTTP, so httpx is all it takes: no Selenium, no browser download.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.service.conftest import free_port

CHROMIUM = os.environ.get("DUTYWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DUTYWATCH_CHROMEDRIVER", "/usr/bin/chromedriver")
# what the machine's closed network and a root user need (without them Chromium stalls on
# connections it may not make, or refuses to start)
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
    "--lang=zh-CN",
]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def available() -> bool:
    return shutil.which(CHROMIUM) is not None and shutil.which(CHROMEDRIVER) is not None


class Browser:
    def __init__(self, client: httpx.Client, session_id: str) -> None:
        self._client = client
        self._base = f"/session/{session_id}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, self._base + path, json=body)
        data = response.json()
        if response.status_code != 200:
            raise AssertionError(f"webdriver {method} {path}: {data}")
        return data["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def find(self, css: str) -> str:
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def find_all(self, css: str) -> list[str]:
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        assert all(ELEMENT in e for e in found), found
        return [str(e[ELEMENT]) for e in found]

    def type(self, element: str, text: str) -> None:
        self._call("POST", f"/element/{element}/value", {"text": text})

    def click(self, element: str) -> None:
        self._call("POST", f"/element/{element}/click", {})

    def text(self, element: str) -> str:
        return str(self._call("GET", f"/element/{element}/text"))

    def script(self, source: str) -> Any:
        """What a script run in the page returns (WebDriver runs it whatever the page's CSP)."""
        return self._call("POST", "/execute/sync", {"script": source, "args": []})

    @property
    def title(self) -> str:
        return str(self._call("GET", "/title"))

    @property
    def url(self) -> str:
        return str(self._call("GET", "/url"))

    def cookies(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/cookie"))

    def screenshot(self) -> bytes:
        return base64.b64decode(self._call("GET", "/screenshot"))

    def print_pdf(self) -> bytes:
        """The page as Chromium prints it (A4 portrait), as PDF."""
        return base64.b64decode(self._call("POST", "/print", {"page": {"width": 21.0, "height": 29.7}}))

    def wait_for(self, css: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_all(css)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {css!r} on {self.url} after {timeout} s")
            time.sleep(0.1)


@contextmanager
def chromium(phone: tuple[int, int] | None = None) -> Iterator[Browser]:
    """A fresh headless browser with an empty profile, closed afterwards; with `phone`, a touch
    screen of that many CSS pixels (Chromium's mobile emulation: viewport, touch, mobile UA)."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="dutywatch-chromium-")
    driver = subprocess.Popen(
        [CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/status").json()["value"]["ready"]:
                        break
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("chromedriver did not start")
                time.sleep(0.1)
            options: dict[str, Any] = {"binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}"]}
            if phone is not None:
                width, height = phone
                metrics = {"width": width, "height": height, "pixelRatio": 3.0, "touch": True, "mobile": True}
                options["mobileEmulation"] = {"deviceMetrics": metrics}
            capabilities = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
            created = client.post("/session", json=capabilities).json()["value"]
            session_id = created["sessionId"]
            try:
                yield Browser(client, session_id)
            finally:
                client.delete(f"/session/{session_id}")
    finally:
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
        shutil.rmtree(profile, ignore_errors=True)
