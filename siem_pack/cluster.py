"""Cross-cutting (shared): the edge to a real cluster: an Elasticsearch client built from
`ClusterSettings`, with transport failures turned into one clear `ClusterError` each (no secret
in any message).

Used by doctor, ingest, the rule runner, baselines, deploy, seals and response.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import elastic_transport
import elasticsearch
from elasticsearch import Elasticsearch

from .errors import ClusterError
from .settings import ClusterSettings

T = TypeVar("T")
_USERINFO = re.compile(r"(https?://)[^/@\s]+@")


def redact_url(url: str) -> str:
    """Drop credentials embedded in a URL (`https://user:pw@host` → `https://***@host`)."""
    return _USERINFO.sub(r"\1***@", url)


def es_client(settings: ClusterSettings) -> Elasticsearch:
    url = settings.require_es()
    kwargs: dict[str, Any] = {
        "request_timeout": settings.timeout,
        "retry_on_timeout": False,
        "max_retries": 2,
    }
    if settings.api_key:
        kwargs["api_key"] = settings.api_key
    elif settings.user:
        kwargs["basic_auth"] = (settings.user, settings.password or "")
    if url.startswith("https://"):
        if settings.insecure:  # the user turned verification off on purpose: no per-request warning
            import urllib3

            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
            kwargs["verify_certs"] = False
            kwargs["ssl_show_warn"] = False
        elif settings.ca_certs:
            kwargs["ca_certs"] = str(settings.ca_certs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Elasticsearch(url, **kwargs)


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Turn client exceptions into `ClusterError`s that name the URL and the cause."""
    where = redact_url(url)
    try:
        yield
    except elasticsearch.UnsupportedProductError as exc:
        raise ClusterError("the server is not Elasticsearch (no X-Elastic-Product header)", where=where) from exc
    except elasticsearch.AuthenticationException as exc:
        raise ClusterError("authentication failed (401): check --api-key or --user/--password", where=where) from exc
    except elasticsearch.AuthorizationException as exc:
        reason = _reason(exc)
        raise ClusterError(f"not authorized (403): {reason}", where=where) from exc
    except elastic_transport.TlsError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
            raise ClusterError(
                "TLS certificate verification failed: pass --ca-certs FILE (or --insecure to turn verification off)",
                where=where,
            ) from exc
        raise ClusterError(f"TLS handshake failed ({_tls_reason(exc)}): is the URL's scheme right?", where=where) from exc
    except elastic_transport.ConnectionTimeout as exc:
        raise ClusterError("timed out waiting for the cluster (raise --timeout?)", where=where) from exc
    except elastic_transport.ConnectionError as exc:
        raise ClusterError(f"cannot connect: {_short(exc)}", where=where) from exc
    except elasticsearch.ApiError as exc:
        raise ClusterError(f"request failed ({exc.meta.status}): {_reason(exc)}", where=where) from exc


def call(settings: ClusterSettings, fn: Callable[[Elasticsearch], T]) -> T:
    """Run `fn` with a client, translating failures."""
    client = es_client(settings)
    with translated(settings.require_es()):
        return fn(client)


def _reason(exc: elasticsearch.ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error")
    if isinstance(err, dict):
        return str(err.get("reason") or err.get("type") or exc.message)
    return str(err or exc.message)


def _tls_reason(exc: Exception) -> str:
    m = re.search(r"\[SSL: ([A-Z_]+)\]", str(exc))
    return m.group(1).lower().replace("_", " ") if m else "unknown reason"


def _short(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker.lower()
    text = redact_url(text)
    return text[:200]
