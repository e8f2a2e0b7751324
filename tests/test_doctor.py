"""`siem-pack doctor`: the embedded default, the real Elasticsearch node, and every way a
cluster connection fails (one line, exit 2, no secret)."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from siem_pack.cli import main
from siem_pack.doctor import pipeline_processors
from siem_pack.settings import ClusterSettings


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, args, env=env)
    return res.exit_code, res.stdout, res.stderr


def test_embedded_default_is_ready(tmp_path: Path) -> None:
    code, out, _ = _run(["doctor", "--db", str(tmp_path / "x.duckdb")])
    assert code == 0
    assert "embedded DuckDB" in out
    assert re.search(r"^  field schema +yes  \d+ fields$", out, re.M), out


def test_embedded_json(tmp_path: Path) -> None:
    code, out, _ = _run(["doctor", "--json", "--db", str(tmp_path / "x.duckdb")])
    assert code == 0
    report = json.loads(out)
    assert report["distribution"] == "duckdb"
    assert {f["name"]: f["present"] for f in report["features"]}["field schema"] is True


@pytest.mark.elasticsearch
def test_doctor_reports_what_the_node_can_do(es_settings: ClusterSettings) -> None:
    env = {"SIEM_PACK_ES_URL": es_settings.es_url or "", "SIEM_PACK_USER": es_settings.user or "",
           "SIEM_PACK_PASSWORD": es_settings.password or ""}
    code, out, err = _run(["doctor", "--json"], env=env)
    assert code == 0, err
    report = json.loads(out)
    assert report["version"].startswith("9.")
    features = {f["name"]: f["present"] for f in report["features"]}
    assert features == {"data_streams": False, "ilm": False, "esql": False, "eql": False, "security": True}
    mappers = {m["name"]: m["present"] for m in report["mappers"]}
    assert mappers == {"match_only_text": False, "wildcard": False, "constant_keyword": False, "flattened": True}
    needed = pipeline_processors()
    assert [p["name"] for p in report["processors"]] == needed
    assert not any(p["present"] for p in report["processors"]), "the integ-test-zip has no ingest processors"
    parts = {p["name"]: p["present"] for p in report["deployable"]}
    assert parts["data streams"] is False and parts["job roles and API keys"] is True
    assert es_settings.password not in out


@pytest.mark.elasticsearch
def test_doctor_table_names_missing_capabilities(es_settings: ClusterSettings) -> None:
    code, out, _ = _run(["doctor", "--es-url", es_settings.es_url or "", "--user", es_settings.user or "",
                         "--password", es_settings.password or ""])
    assert code == 0
    assert "security      yes" in out
    assert "data_streams  NO" in out


@pytest.mark.elasticsearch
def test_bad_credentials_one_line_exit_2(es_settings: ClusterSettings) -> None:
    secret = "not-the-password-3141"
    code, out, err = _run(["doctor", "--es-url", es_settings.es_url or "", "--user", "elastic", "--password", secret])
    assert code == 2
    assert err.strip() == f"siem-pack: error: {es_settings.es_url}: authentication failed (401): check --api-key or --user/--password"
    assert secret not in out + err


def test_unreachable_cluster() -> None:
    code, _, err = _run(["doctor", "--es-url", "http://127.0.0.1:9"])
    assert code == 2
    assert err.strip() == "siem-pack: error: http://127.0.0.1:9: cannot connect: connection refused"


def test_credentials_in_url_are_not_printed() -> None:
    code, _, err = _run(["doctor", "--es-url", "http://elastic:hunter2@127.0.0.1:9"])
    assert code == 2
    assert "hunter2" not in err
    assert "***@127.0.0.1:9" in err


@pytest.mark.opensearch
def test_non_elasticsearch_server(opensearch: object) -> None:
    url = opensearch.url  # type: ignore[attr-defined]
    code, _, err = _run(["doctor", "--es-url", url])
    assert code == 2
    assert err.strip() == f"siem-pack: error: {url}: the server is not Elasticsearch (no X-Elastic-Product header)"


def test_user_without_password_names_both_sources() -> None:
    code, _, err = _run(["doctor", "--es-url", "http://127.0.0.1:9", "--user", "elastic"])
    assert code == 2
    assert "--password (SIEM_PACK_PASSWORD) is missing" in err


def test_api_key_and_user_conflict() -> None:
    code, _, err = _run(["doctor", "--es-url", "http://127.0.0.1:9", "--api-key", "k", "--user", "u", "--password", "p"])
    assert code == 2
    assert "either --api-key or --user/--password" in err
    assert "'k'" not in err


@pytest.fixture()
def self_signed_https(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate that answers like no Elasticsearch."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b'{"hello": "not elasticsearch"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}|{cert_file}"
    server.shutdown()


def test_tls_verification_is_on_by_default(self_signed_https: str) -> None:
    url, _ = self_signed_https.split("|")
    code, _, err = _run(["doctor", "--es-url", url])
    assert code == 2
    assert err.strip() == (f"siem-pack: error: {url}: TLS certificate verification failed: "
                           "pass --ca-certs FILE (or --insecure to turn verification off)")


@pytest.mark.parametrize("how", ["ca-certs", "insecure"])
def test_tls_trusted_then_product_check(self_signed_https: str, how: str) -> None:
    url, ca = self_signed_https.split("|")
    extra = ["--ca-certs", ca] if how == "ca-certs" else ["--insecure"]
    code, _, err = _run(["doctor", "--es-url", url, *extra])
    assert code == 2
    assert "the server is not Elasticsearch" in err


def test_missing_ca_file() -> None:
    code, _, err = _run(["doctor", "--es-url", "https://127.0.0.1:9", "--ca-certs", "/nonexistent/ca.pem"])
    assert code == 2
    assert "CA file not found: /nonexistent/ca.pem" in err
