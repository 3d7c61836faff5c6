"""A headless Debian chromium driven by Selenium against a running daemon, and the recording that
feeds it (replayed with its times moved to now, so that the daemon's engine takes it as live)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import msgspec

from tests.processes import http_json, require_program

RECORDING = Path(__file__).parent / "testdata" / "board" / "recording.jsonl"
ENDPOINTS = {"alertmanager": "/api/v1/alertmanager", "prometheus": "/api/v2/alerts"}
WAIT_SECONDS = 20


def _moved(moment: str, shift) -> str:
    if moment.startswith("0001-"):
        return moment
    return (msgspec.convert(moment, datetime) + shift).isoformat().replace("+00:00", "Z")


def replay(url: str, token: str, recording: Path = RECORDING) -> int:
    """POST every notification of `recording` to its endpoint in order, startsAt and endsAt moved
    so that the last notification is now. Returns how many were posted."""
    lines = [json.loads(line) for line in recording.read_text().splitlines() if line.strip()]
    shift = datetime.now(timezone.utc) - max(msgspec.convert(line["at"], datetime) for line in lines)
    for line in lines:
        body = line["body"]
        for alert in body["alerts"] if isinstance(body, dict) else body:
            for field in ("startsAt", "endsAt"):
                if alert.get(field):
                    alert[field] = _moved(alert[field], shift)
        status, _ = http_json("POST", url + ENDPOINTS[line["source"]], body,
                              headers={"Authorization": f"Bearer {token}"})
        assert status == 200, status
    return len(lines)


def chromium(width: int = 1280, height: int = 1000, phone: bool = False):
    """`phone`: a phone's screen (`width` x `height` CSS pixels, touch), as Chrome's device emulation
    makes it (a headless window cannot be narrower than 500 pixels)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    if phone:
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": True}})
    options.binary_location = require_program("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    service = Service(executable_path=require_program("chromedriver"), env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})
    return webdriver.Chrome(options=options, service=service)


# WCAG 2 contrast of every visible text against the background it is drawn on (the first opaque
# background among its ancestors): the texts under `minimum`, each as "text: ratio".
LOW_CONTRAST_SCRIPT = """
const minimum = arguments[0];
const rgb = text => (text.match(/[\\d.]+/g) || []).map(Number);
const luminance = ([r, g, b]) => {
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
};
const background = element => {
  for (let e = element; e; e = e.parentElement) {
    const color = rgb(getComputedStyle(e).backgroundColor);
    if (color.length === 3 || color[3] === 1) return color.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const element of document.querySelectorAll("body *")) {
  const own = [...element.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim()).map(n => n.textContent.trim());
  if (!own.length || !element.getClientRects().length || element.closest("[hidden]")) continue;
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(background(element))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < minimum) low.push(`${own.join(" ").slice(0, 40)}: ${ratio.toFixed(2)}`);
}
return low;
"""


def low_contrast_texts(driver, minimum: float = 4.5) -> list[str]:
    return driver.execute_script(LOW_CONTRAST_SCRIPT, minimum)
