"""The package as a user installs it: a copy of the clone with nothing beside it, built into
a wheel, installed (not editable) into a fresh virtual environment, and run from an empty
folder. Content must come from the package data (siem_pack/content/), never from a source
tree or from upstream data next to the clone.

Both ways a user installs are covered: `pip install dist/*.whl` and `pip install .`.
The commands are the ones the README and the issue name: demo, rules list, rules build,
dashboards check, deploy --dry-run (against the real Elasticsearch node when it runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _tracked_files() -> list[str]:
    """The clone's files as git sees them (a fresh clone holds exactly these)."""
    res = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"not a git checkout ({res.stderr.strip()}): cannot tell which files a clone holds")
    return [f for f in res.stdout.splitlines() if (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the clone alone in a temporary folder: no ../shared, no .engines, no venv."""
    dest = tmp_path_factory.mktemp("bare") / "siem-pack"
    for rel in _tracked_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    assert not (dest.parent / "shared").exists()
    return dest


def _venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    return where / "bin"


def _pip(bin_dir: Path, *args: str) -> None:
    res = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _run(bin_dir: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIEM_PACK_")}
    clean.update(env or {})
    return subprocess.run([str(bin_dir / "siem-pack"), *args], cwd=cwd, capture_output=True, text=True, env=clean,
                          timeout=600)


@pytest.fixture(scope="module")
def wheel(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                          "-w", str(dist), str(clone)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    (whl,) = dist.glob("siem_pack-*.whl")
    return whl


@pytest.fixture(scope="module")
def from_wheel(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    bin_dir = _venv(tmp_path_factory.mktemp("venv-wheel") / "v")
    _pip(bin_dir, str(wheel))
    yield bin_dir


def test_the_wheel_carries_the_content(wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("siem_pack/content/ingest_pipelines/siem_pack-entry.yml", "siem_pack/content/schema/fields.yml",
                "siem_pack/content/inventory/models", "siem_pack/content/detections/vocabulary.yml"):
        assert any(n == rel or n.startswith(rel + "/") for n in names), f"{rel} missing from {wheel.name}"
    tracked = {f for f in _tracked_files() if f.split("/")[0] in
               ("ingest_pipelines", "detections", "dashboards", "inventory", "schema")}
    missing = sorted(f for f in tracked if f"siem_pack/content/{f}" not in names)
    assert missing == [], f"content files not in the wheel: {missing[:10]}"


def test_installed_wheel_runs_demo_from_an_empty_folder(from_wheel: Path, tmp_path: Path) -> None:
    res = _run(from_wheel, tmp_path, "demo", "--out", "demo", "--days", "4", "--identities", "8")
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"events:\s+[1-9][\d,]* stored", res.stdout), res.stdout
    assert re.search(r"attacks:\s+\d+ of \d+ simulated attacks caught", res.stdout), res.stdout
    assert (tmp_path / "demo" / "report.html").is_file()


@pytest.mark.parametrize("args", [("rules", "list"), ("rules", "build"), ("dashboards", "check"),
                                  ("pipelines", "list")], ids=" ".join)
def test_installed_wheel_content_commands(from_wheel: Path, tmp_path: Path, args: tuple[str, ...]) -> None:
    res = _run(from_wheel, tmp_path, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr


def test_installed_wheel_reads_content_from_the_package(from_wheel: Path, tmp_path: Path) -> None:
    code = "from siem_pack.paths import content_root; print(content_root())"
    res = subprocess.run([str(from_wheel / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("SIEM_PACK_")})
    assert res.returncode == 0, res.stderr
    root = Path(res.stdout.strip())
    assert root.parts[-2:] == ("siem_pack", "content") and "site-packages" in root.parts, root


@pytest.mark.elasticsearch
def test_installed_wheel_plans_a_deploy(from_wheel: Path, tmp_path: Path, es_settings: object) -> None:
    env = {"SIEM_PACK_ES_URL": os.environ["SIEM_PACK_TEST_ES_URL"],
           "SIEM_PACK_USER": os.environ.get("SIEM_PACK_TEST_ES_USER", "elastic"),
           "SIEM_PACK_PASSWORD": os.environ.get("SIEM_PACK_TEST_ES_PASSWORD", "")}
    res = _run(from_wheel, tmp_path, "deploy", "--dry-run", "--prefix", "t-wheel-", env=env)
    assert res.returncode == 1, res.stdout + res.stderr  # README: a plan with pending changes exits 1
    assert re.search(r"^\d+ change\(s\) pending \(\d+ create", res.stdout, re.M), res.stdout
    assert re.search(r"^\s+create\s+component_template/t-wheel-siem_pack-ecs@mappings$", res.stdout, re.M), res.stdout
    assert "index_template/t-wheel-logs-siem_pack.bedrock_invocation" in res.stdout


def test_pip_install_dot_non_editable(clone: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    src = tmp_path_factory.mktemp("src") / "siem-pack"
    shutil.copytree(clone, src)  # pip builds in the tree: keep the shared copy clean
    bin_dir = _venv(tmp_path_factory.mktemp("venv-dot") / "v")
    _pip(bin_dir, str(src))
    shutil.rmtree(src)  # an installed package must not need the tree it came from
    for args in (("rules", "list"), ("dashboards", "check")):
        res = _run(bin_dir, tmp_path, *args)
        assert res.returncode == 0, res.stdout + res.stderr
    res = _run(bin_dir, tmp_path, "demo", "--out", "demo", "--days", "3", "--identities", "8")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "demo" / "report.html").is_file()
