#!/usr/bin/env python3
"""What the tests need beyond Python: Maven (to fetch the engines from Maven Central) and
Chromium (the report's browser test). Says what is missing and, when it runs as root with
apt-get and SIEM_PACK_TEST_APT is not `0`, installs Debian's packages for it, saying so.

Prints one shell line on stdout for scripts/test to `eval`:
`export SIEM_PACK_TEST_CHROMIUM=<path>` when a browser was found or installed (the browser
test reads it), otherwise nothing. Everything else goes to stderr."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

NEEDED = {"mvn": ("maven", "the engine downloads (tests on real nodes)"),
          "chromium": ("chromium", "the report's headless-browser test")}
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def say(msg: str) -> None:
    print(f"[test-deps] {msg}", file=sys.stderr)


def browser() -> str | None:
    env = os.environ.get("SIEM_PACK_TEST_CHROMIUM")
    if env and os.access(env, os.X_OK):
        return env
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def main() -> int:
    missing = [(cmd, pkg, why) for cmd, (pkg, why) in NEEDED.items()
               if (browser() if cmd == "chromium" else shutil.which(cmd)) is None]
    if missing:
        pkgs = [pkg for _, pkg, _ in missing]
        for cmd, _, why in missing:
            say(f"{cmd} not found: needed for {why}")
        can_apt = os.geteuid() == 0 and shutil.which("apt-get") is not None
        if not can_apt or os.environ.get("SIEM_PACK_TEST_APT") == "0":
            say(f"not installing {', '.join(pkgs)} (needs root and apt-get; SIEM_PACK_TEST_APT=0 turns it off): "
                "the tests that need them will skip")
        else:
            say(f"installing Debian packages {', '.join(pkgs)} with apt-get (system-wide; "
                "SIEM_PACK_TEST_APT=0 turns this off)")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
            res = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs], env=env,
                                 stdout=subprocess.DEVNULL)
            say("installed" if res.returncode == 0 else f"apt-get could not install {', '.join(pkgs)}")
    found = browser()
    if found:
        say(f"browser for the report test: {found}")
        print(f"export SIEM_PACK_TEST_CHROMIUM={shlex.quote(found)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
