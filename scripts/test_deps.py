#!/usr/bin/env python3
"""System packages the tests need beyond Python: Maven (to fetch the engines) and, when
root, Debian's chromium for the report's browser test. Installs what is missing with
apt-get when it can; otherwise says which tests will skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

NEEDED = {"mvn": "maven", "chromium": "chromium"}


def main() -> int:
    missing = [pkg for cmd, pkg in NEEDED.items() if shutil.which(cmd) is None]
    if not missing:
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"[test-deps] missing {', '.join(missing)}: the tests that need them will skip", file=sys.stderr)
        return 0
    print(f"[test-deps] installing {', '.join(missing)} with apt-get", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, stdout=subprocess.DEVNULL)
    res = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env,
                         stdout=subprocess.DEVNULL)
    if res.returncode != 0:
        print(f"[test-deps] apt-get could not install {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
