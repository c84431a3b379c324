"""A minimal WebDriver client over plain HTTP: chromedriver drives headless Chromium.

No selenium, no downloaded browser: Debian's ``chromium`` and ``chromium-driver``
(``tests/browser/install.sh``). Only what the dashboard test needs: open a page,
run a script, read the browser's console log, take a screenshot.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
]


def missing() -> str | None:
    """What is missing to run a real browser here, or None."""
    for name in ("chromium", "chromedriver"):
        if shutil.which(name) is None:
            return name
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDriverError(RuntimeError):
    """chromedriver answered with an error."""


class Browser:
    """One WebDriver session."""

    def __init__(self, base: str, session: str) -> None:
        self.base = base
        self.session = session

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return _request(method, f"{self.base}/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: ``return ...``) in the page and return its value."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def console(self) -> list[dict[str, Any]]:
        """The browser console entries since the last call (level, message, source)."""
        entries: list[dict[str, Any]] = self._call("POST", "/se/log", {"type": "browser"})
        return entries

    def cdp(self, command: str, params: dict[str, Any] | None = None) -> Any:
        """A Chrome DevTools Protocol command, forwarded by chromedriver."""
        return self._call("POST", "/goog/cdp/execute", {"cmd": command, "params": params or {}})

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """A PNG of the whole page, or of the element ``selector`` finds.

        Uses the DevTools command chromedriver forwards, which can capture beyond
        the window.
        """
        if selector is None:
            box = self.run(
                "const e = document.documentElement; return [0, 0, e.scrollWidth, e.scrollHeight]"
            )
        else:
            box = self.run(
                "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
                "return [r.x + scrollX, r.y + scrollY, r.width, r.height]",
                selector,
            )
        shot = self.cdp(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def _request(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise WebDriverError(f"{method} {url}: {exc.code} {exc.read()[:500]!r}") from None
    return answer.get("value") if isinstance(answer, dict) else answer


@contextmanager
def chromium(profile: Path, log: Path) -> Iterator[Browser]:
    """Start chromedriver on loopback and one headless Chromium session; stop both after."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as handle:
        driver = subprocess.Popen(
            ["chromedriver", f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _request("GET", f"{base}/status").get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                raise WebDriverError(f"chromedriver did not start; see {log}")
            time.sleep(0.1)
        capabilities = {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": shutil.which("chromium"),
                "args": [*CHROMIUM_ARGS, f"--user-data-dir={profile}"],
            },
        }
        answer = _request(
            "POST", f"{base}/session", {"capabilities": {"alwaysMatch": capabilities}}
        )
        browser = Browser(base, answer["sessionId"])
        try:
            yield browser
        finally:
            with suppress(OSError, WebDriverError):
                _request("DELETE", f"{base}/session/{browser.session}")
    finally:
        driver.terminate()
        try:
            driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
