"""Open a page in Debian's headless Chromium, as a reader would, and record what the browser saw and did.

Chromium runs in a network namespace of its own with no interface up (`unshare --net`): whatever the page or the
browser tried, no packet can leave this machine. What they tried is still recorded: Chromium writes its own
network log (`--log-net-log`), which names every URL the network stack was asked for, and Playwright (driving
the browser over a pipe, with no browser download of its own) reports the page's requests, console messages and
errors. Chromium's component updater ignores `--disable-component-update` in the new headless mode; it is sent
to a dead local port instead (`--component-updater=url-source=`), so the log can be held to "nothing else".
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

# Debian's binary itself: /usr/bin/chromium is a shell script that first sources /etc/chromium.d/, whose Google
# API keys turn on sign-in requests that a reader's offline check does not want.
CHROMIUM = "/usr/lib/chromium/chromium"
UPDATER_SINK = "http://127.0.0.1:9/"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-features=NetworkTimeServiceQuerying",
    f"--component-updater=url-source={UPDATER_SINK}",
)
# Every chart's drawn box, and how many of its shapes cover a non-empty area.
_CHARTS = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll('path, rect')].filter(s => {
    const b = s.getBBox(); return b.width > 0 && b.height > 0; }).length;
  return [svg.querySelector('title')?.textContent ?? '', box.width, box.height, drawn];
})"""


@dataclass
class Visit:
    requests: list[str] = field(default_factory=list)  # every request the page made (Playwright)
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    errors: list[str] = field(default_factory=list)  # uncaught page errors
    network_log: set[str] = field(default_factory=set)  # every URL in Chromium's own network log
    charts: list[tuple[str, float, float, int]] = field(default_factory=list)  # (title, width, height, shapes drawn)
    sections: list[str] = field(default_factory=list)  # the h2 headings


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (scripts/test installs it)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is missing"
    return None


def visit(page_file: Path, workdir: Path, screenshot: Path) -> Visit:
    """Load `page_file` (a local file) and wait until it is drawn; keep a full-page screenshot at `screenshot`."""
    from playwright.sync_api import sync_playwright

    workdir.mkdir(parents=True, exist_ok=True)
    wrapper = workdir / "chromium-offline"
    # Root makes the namespace directly; anyone else through a user namespace.
    unshare = "unshare --net" if os.geteuid() == 0 else "unshare --user --map-root-user --net"
    wrapper.write_text(f'#!/bin/sh\nexec {unshare} -- {CHROMIUM} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    net_log = workdir / "netlog.json"
    seen = Visit()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            workdir / "profile",  # a new, empty profile
            executable_path=str(wrapper),
            args=[*FLAGS, f"--log-net-log={net_log}"],
            viewport={"width": 1280, "height": 900},
            timeout=60_000,
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: seen.requests.append(request.url))
            page.on("console", lambda message: seen.console.append((message.type, message.text)))
            page.on("pageerror", lambda error: seen.errors.append(str(error)))
            page.goto(page_file.resolve().as_uri(), wait_until="load", timeout=60_000)
            seen.charts = [(str(t), float(w), float(h), int(n)) for t, w, h, n in page.evaluate(_CHARTS)]
            seen.sections = [str(s) for s in page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")]
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()  # the network log is complete only once the browser has exited
    events = json.loads(net_log.read_text())["events"]
    seen.network_log = {
        str(e["params"]["url"]) for e in events if isinstance(e.get("params"), dict) and "url" in e["params"]
    }
    return seen
