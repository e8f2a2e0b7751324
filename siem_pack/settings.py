"""Cross-cutting (shared): cluster settings shared by every command that talks to a cluster.

Each option also comes from a `SIEM_PACK_*` variable (see `OPTIONS`). Nothing prompts.
Secrets are kept out of `repr` so they never reach logs or errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

# option name -> environment variable
OPTIONS: dict[str, str] = {
    "es_url": "SIEM_PACK_ES_URL",
    "kibana_url": "SIEM_PACK_KIBANA_URL",
    "space": "SIEM_PACK_SPACE",
    "api_key": "SIEM_PACK_API_KEY",
    "user": "SIEM_PACK_USER",
    "password": "SIEM_PACK_PASSWORD",
    "ca_certs": "SIEM_PACK_CA_CERTS",
    "insecure": "SIEM_PACK_INSECURE",
    "timeout": "SIEM_PACK_TIMEOUT",
}


@dataclass(frozen=True)
class ClusterSettings:
    es_url: str | None = None
    kibana_url: str | None = None
    space: str = "default"
    api_key: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_certs: Path | None = None
    insecure: bool = False
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.api_key and (self.user or self.password):
            raise ConfigError("give either --api-key or --user/--password, not both", where="--api-key")
        if bool(self.user) != bool(self.password):
            missing = "--password (SIEM_PACK_PASSWORD)" if self.user else "--user (SIEM_PACK_USER)"
            raise ConfigError(f"{missing} is missing", where="--user/--password")
        if self.ca_certs is not None and not Path(self.ca_certs).is_file():
            raise ConfigError(f"CA file not found: {self.ca_certs}", where="--ca-certs")
        for name in ("es_url", "kibana_url"):
            url = getattr(self, name)
            if url and not url.startswith(("http://", "https://")):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{url!r} is not an http(s) URL", where=flag)

    @property
    def has_cluster(self) -> bool:
        return bool(self.es_url)

    def require_es(self) -> str:
        if not self.es_url:
            raise ConfigError("no Elasticsearch URL: pass --es-url or set SIEM_PACK_ES_URL", where="--es-url")
        return self.es_url
