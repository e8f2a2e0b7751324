"""Ship the bundle's content with the package.

The content folders (ingest_pipelines/, detections/, dashboards/, inventory/, schema/) sit
at the top of the source tree, one object per file. A built wheel carries them as package
data under `siem_pack/content/`, where siem_pack.paths finds them; an editable install
reads them from the source tree. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONTENT = ("ingest_pipelines", "detections", "dashboards", "inventory", "schema")
HERE = Path(__file__).resolve().parent


class build_py_with_content(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "siem_pack" / "content"
        for name in CONTENT:
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(HERE / name, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": build_py_with_content})
