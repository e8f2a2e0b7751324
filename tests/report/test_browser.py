"""The report in a real browser: headless Chromium (Debian's `chromium`) loads the file, the
DOM it builds shows data in every panel whose data exists, the console stays silent (the
page's CSP turns any external asset into a console error), and a screenshot is kept under
test-artifacts/ for a person to look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from siem_pack.backends.duckdb import Store
from siem_pack.integrity.keys import SigningKey
from siem_pack.integrity.seals import seal_windows
from siem_pack.integrity.store_duckdb import DuckDBEvents, DuckDBSeals
from siem_pack.paths import SOURCE_ROOT
from siem_pack.report import build_report

pytestmark = pytest.mark.chromium
ARTIFACTS = SOURCE_ROOT / "test-artifacts"
SECTION = re.compile(r'<section class="panel([^"]*)"[^>]*data-panel="([^"]+)"[^>]*data-status="([^"]+)" '
                     r'data-rows="(\d+)"[^>]*>(.*?)</section>', re.S)


def chromium_binary() -> str:
    """SIEM_PACK_TEST_CHROMIUM (scripts/test sets it to the browser it found or installed), else PATH."""
    env = os.environ.get("SIEM_PACK_TEST_CHROMIUM")
    if env and os.access(env, os.X_OK):
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    msg = "chromium not installed (apt-get install chromium; scripts/test_deps.py does it in CI)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{msg} (CI=true: the browser test must not skip)")
    pytest.skip(msg)


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_report_in_headless_chromium(seeded_db: Path, tmp_path: Path) -> None:
    binary = chromium_binary()
    with Store(seeded_db) as store:  # seal the events too, so the Integrity panels have data
        seal_windows(DuckDBEvents(store), DuckDBSeals(store), SigningKey.generate())
    report = tmp_path / "report.html"
    result = build_report(seeded_db, report)
    url = report.resolve().as_uri()

    dom = run_chromium(binary, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_messages(dom.stderr) == []
    sections = SECTION.findall(dom.stdout)
    assert len(sections) == result.panels + 1  # every panel plus the seal-chain status table
    empty = set()
    for classes, pid, status, rows, body in sections:
        if status != "ok":
            empty.add(pid)
            continue
        assert int(rows) > 0, pid
        if "metric" in classes:
            assert re.search(r'<div class="big">[^<]+</div>', body), pid
        elif "table" in classes:
            assert body.count("<tr>") >= 2, pid
        else:
            assert "<svg" in body and re.search(r"<(rect|polyline|polygon|path|circle)\b", body), pid
    assert empty == {"integrity/late-addenda"}  # no late events in the seeded store

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    snap = run_chromium(binary, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,3000",
                        "--hide-scrollbars", url)
    assert snap.returncode == 0, snap.stderr[-2000:]
    assert console_messages(snap.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    shutil.copyfile(report, ARTIFACTS / "report.html")


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """The console check can fail: a page with an external image under our CSP logs one."""
    binary = chromium_binary()
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
                    "content=\"default-src 'none'\"><link rel=\"icon\" href=\"data:,\"></head><body>"
                    "<img src=\"https://example.invalid/x.png\"></body></html>")
    res = run_chromium(binary, tmp_path / "profile", "--dump-dom", page.resolve().as_uri())
    assert res.returncode == 0
    assert any("Content Security Policy" in m for m in console_messages(res.stderr))
