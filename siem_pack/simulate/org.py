"""Drills, part 1: a simulated organisation and its benign traffic.

Stage 0 of the flow (before raw logs): `build_org` makes a deterministic organisation from a
seed (teams and roles, humans in several regions and time zones, service accounts with
nightly batches, models in sensitivity tiers, dated grants and approvals, travel,
onboarding and campaign spikes); `benign_activity` turns it into abstract `Activity`
records, which `writers.py` renders in the real vendor formats. `attacks.py` adds labelled
attack activity on top. Nothing here knows a vendor format.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Tier = Literal["public", "internal", "confidential", "restricted"]
Source = Literal["bedrock_invocation", "litellm_spend", "azure_openai", "openai_audit"]

# the default first day (a Monday); a fixed date keeps a seed's output identical on any day
DEFAULT_START = datetime(2026, 3, 2, tzinfo=UTC)
AWS_ACCOUNT = "402917365580"
# benign traps: one onboarding per this many identity-days, one business trip per this many
ONBOARDING_RATE = 400
TRAVEL_RATE = 500
AZURE_RESOURCE = ("/SUBSCRIPTIONS/5B8E2C47-3F1A-4D6B-9C0E-7A1F2D3B4C5D/RESOURCEGROUPS/RG-AI-PROD/PROVIDERS/"
                  "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/ACME-OPENAI-PROD")
AZURE_REGION = "westeurope"
OPENAI_PROJECT = {"id": "proj_acme7Xq2LmN4", "name": "acme-default"}


@dataclass(frozen=True)
class Site:
    """Where a human works from: a region's time zone, country and egress addresses."""

    name: str
    tz: str
    country: str
    city: str
    region: str
    region_code: str
    lat: str
    lon: str
    asn: str
    ip_prefix: str  # first three octets of the office egress range


SITES: dict[str, Site] = {
    s.name: s for s in (
        Site("berlin", "Europe/Berlin", "DE", "Berlin", "Land Berlin", "BE", "52.52437", "13.41053", "3320",
             "89.160.20"),
        Site("london", "Europe/London", "GB", "London", "England", "ENG", "51.50853", "-0.12574", "2856",
             "81.2.69"),
        Site("seattle", "America/Los_Angeles", "US", "Seattle", "Washington", "WA", "47.60621", "-122.33207",
             "209", "216.160.83"),
        Site("bangalore", "Asia/Kolkata", "IN", "Bengaluru", "Karnataka", "KA", "12.97194", "77.59369", "55836",
             "175.16.199"),
    )
}
# places benign travellers visit and attackers come from (not office egress ranges)
FOREIGN: dict[str, Site] = {
    s.name: s for s in (
        Site("paris", "Europe/Paris", "FR", "Paris", "Ile-de-France", "IDF", "48.85341", "2.3488", "3215",
             "67.43.156"),
        Site("sao_paulo", "America/Sao_Paulo", "BR", "Sao Paulo", "Sao Paulo", "SP", "-23.5475", "-46.63611",
             "28573", "2.125.160"),
        Site("singapore", "Asia/Singapore", "SG", "Singapore", "Singapore", "01", "1.28967", "103.85007", "4657",
             "202.196.224"),
        Site("lagos", "Africa/Lagos", "NG", "Lagos", "Lagos", "LA", "6.45407", "3.39467", "37148", "149.101.100"),
    )
}


@dataclass(frozen=True)
class Model:
    """A model as the inventory knows it, and the name each source logs it under."""

    id: str
    name: str
    tier: Tier
    owner: str
    environment: str
    allowed_groups: tuple[str, ...]
    source: Source
    provider_model: str  # Bedrock modelId, LiteLLM model, Azure deployment name
    provider_name: str = ""  # Azure: modelName

    @property
    def log_name(self) -> str:
        """The name the logs give the model (`gen_ai.request.model` after ingest)."""
        return self.provider_name or self.provider_model


@dataclass(frozen=True)
class Identity:
    """A human or service account with every alias the sources use for it."""

    id: str
    kind: Literal["human", "service"]
    name: str
    email: str
    team: str
    role: str
    groups: tuple[str, ...]
    site: str
    aws_arn: str
    entra_oid: str
    gateway_user: str
    key_alias: str
    key_hash: str
    openai_user_id: str
    sources: tuple[Source, ...]
    models: tuple[str, ...]  # habitual model ids
    rate: float  # mean requests per active hour
    joined: int = 0  # onboarding: first active day (0 = before the simulation)
    batch_hour_utc: int = 2  # service accounts: nightly batch start

    @property
    def tz(self) -> str:
        return SITES[self.site].tz

    def aliases(self) -> list[str]:
        """Every name the sources give this identity (the inventory's aliases)."""
        names = [self.email, self.aws_arn, self.entra_oid, self.gateway_user, self.key_alias,
                 self.openai_user_id]
        return [n for n in dict.fromkeys(names) if n]


@dataclass(frozen=True)
class Grant:
    """A dated grant: an identity may use a model between start and end (temporary elevation)."""

    id: str
    identity: str
    model: str
    start: datetime
    end: datetime
    justification: str
    approver: str


@dataclass(frozen=True)
class Approval:
    """An approved privileged action (key creation, permission grant) within a validity window."""

    id: str
    identity: str
    action: str
    start: datetime
    end: datetime
    justification: str
    approver: str


@dataclass(frozen=True)
class Trip:
    identity: str
    site: str  # a FOREIGN site
    start_day: int
    end_day: int  # exclusive


@dataclass(frozen=True)
class Campaign:
    """A whole team's legitimate spike (a launch, a quarter close)."""

    team: str
    day: int
    factor: float


@dataclass(frozen=True)
class Org:
    seed: int
    start: datetime
    days: int
    models: tuple[Model, ...]
    identities: tuple[Identity, ...]
    grants: tuple[Grant, ...]
    approvals: tuple[Approval, ...]
    trips: tuple[Trip, ...]
    campaigns: tuple[Campaign, ...]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def model(self, model_id: str) -> Model:
        return next(m for m in self.models if m.id == model_id)

    def identity(self, identity_id: str) -> Identity:
        return next(i for i in self.identities if i.id == identity_id)


@dataclass
class Activity:
    """One abstract access event; `writers.py` renders it in its source's vendor format.

    kind: invoke (a model call), login (a console sign-in), admin (a control-plane action).
    `outcome` is success, denied (authorisation), invalid (validation error), throttled,
    guardrail (the guardrail intervened) or failed_login.
    """

    ts: datetime
    source: Source
    identity: Identity
    kind: Literal["invoke", "login", "admin"] = "invoke"
    model: Model | None = None
    outcome: str = "success"
    input_tokens: int = 0
    output_tokens: int = 0
    operation: str = ""  # vendor operation / call type / audit type override
    prompt: str = ""
    site: Site | None = None  # where the caller is (defaults to the identity's office)
    key_alias: str = ""  # override (attacks with new keys)
    key_hash: str = ""
    record_id: str = ""  # filled by the writer: the raw record's id
    extra: dict[str, object] = field(default_factory=dict)


# --- the organisation -------------------------------------------------------------------

@dataclass(frozen=True)
class Team:
    """A team: where its people sit, their roles and groups, gateways, habitual models and
    mean requests per active hour."""

    sites: tuple[str, ...]
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    sources: tuple[Source, ...]
    models: tuple[str, ...]
    rate: float


TEAMS: dict[str, Team] = {
    "engineering": Team(("berlin", "seattle", "bangalore"), ("engineer", "staff-engineer"), ("engineering",),
                        ("litellm_spend", "bedrock_invocation"),
                        ("gw-gpt-4o-mini", "gw-gpt-4o", "br-claude-haiku", "br-claude-sonnet"), 5.0),
    "data-science": Team(("berlin", "london"), ("data-scientist",), ("data-science", "engineering"),
                         ("bedrock_invocation", "litellm_spend"), ("br-claude-sonnet", "br-llama-70b", "gw-gpt-4o"),
                         6.0),
    "finance": Team(("london",), ("analyst", "controller"), ("finance",), ("azure_openai",),
                    ("az-gpt-4o", "az-finance-gpt"), 3.0),
    "legal": Team(("london", "berlin"), ("counsel",), ("legal",), ("azure_openai",), ("az-gpt-4o", "az-legal-review"),
                  2.0),
    "marketing": Team(("seattle", "london"), ("marketer",), ("marketing",), ("litellm_spend", "azure_openai"),
                      ("gw-gpt-4o-mini", "az-gpt-35"), 3.0),
    "support": Team(("bangalore",), ("agent",), ("support",), ("litellm_spend",), ("gw-gpt-4o-mini",), 4.0),
    "platform": Team(("berlin", "seattle"), ("platform-admin",), ("platform", "engineering"),
                     ("litellm_spend", "openai_audit"), ("gw-gpt-4o-mini", "gw-gpt-4o"), 2.0),
}
TEAM_WEIGHTS = {"engineering": 10, "data-science": 5, "finance": 4, "legal": 3, "marketing": 4, "support": 4,
                "platform": 2}

MODELS: tuple[Model, ...] = (
    Model("gw-gpt-4o-mini", "GPT-4o mini via the gateway", "public", "platform", "prod", (), "litellm_spend",
          "gpt-4o-mini"),
    Model("gw-gpt-4o", "GPT-4o (through the gateway and on Azure)", "internal", "platform", "prod",
          ("engineering", "data-science", "platform", "finance", "legal", "marketing"), "litellm_spend", "gpt-4o"),
    Model("gw-o1", "o1 reasoning via the gateway", "confidential", "platform", "prod", ("data-science",),
          "litellm_spend", "o1"),
    Model("gw-ft-hr", "Fine-tuned HR assistant", "restricted", "people-ops", "prod", ("hr",), "litellm_spend",
          "ft:gpt-4o-2024-08-06:acme:hr-assist:B1x9"),
    Model("gw-ft-source", "Fine-tuned on source code", "restricted", "engineering", "prod", ("security",),
          "litellm_spend", "ft:gpt-4o-2024-08-06:acme:code-core:C7k2"),
    Model("br-claude-haiku", "Claude 3 Haiku on Bedrock", "public", "platform", "prod", (), "bedrock_invocation",
          "anthropic.claude-3-haiku-20240307-v1:0"),
    Model("br-claude-sonnet", "Claude 3.5 Sonnet on Bedrock", "internal", "platform", "prod",
          ("engineering", "data-science"), "bedrock_invocation", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    Model("br-llama-70b", "Llama 3 70B on Bedrock", "confidential", "data-science", "prod", ("data-science",),
          "bedrock_invocation", "meta.llama3-70b-instruct-v1:0"),
    Model("br-claude-opus", "Claude 3 Opus on Bedrock (M&A workspace)", "restricted", "legal", "prod",
          ("legal-ma",), "bedrock_invocation", "anthropic.claude-3-opus-20240229-v1:0"),
    Model("az-gpt-35", "GPT-3.5 Turbo on Azure", "public", "platform", "prod", (), "azure_openai", "gpt35-general",
          "gpt-35-turbo"),
    Model("az-gpt-4o", "GPT-4o on Azure", "internal", "platform", "prod",
          ("engineering", "data-science", "platform", "finance", "legal", "marketing"), "azure_openai",
          "gpt4o-internal", "gpt-4o"),
    # Azure logs the base model name (modelName); fine-tuned deployments carry the .ft- suffix
    Model("az-finance-gpt", "Finance close assistant (fine-tuned)", "confidential", "finance", "prod", ("finance",),
          "azure_openai", "gpt4o-finance", "gpt-4o-2024-08-06.ft-7c1d9e0f2a3b4c5d"),
    Model("az-legal-review", "Legal review assistant (fine-tuned)", "restricted", "legal", "prod", ("legal",),
          "azure_openai", "gpt4o-legal-review", "gpt-4o-2024-08-06.ft-1a2b3c4d5e6f7a8b"),
)

FIRST = ("ada", "ben", "chloe", "dev", "elif", "farah", "goran", "hana", "ivan", "jun", "kiri", "lena", "mateo",
         "nia", "omar", "priya", "quinn", "rosa", "sven", "tara", "uma", "viktor", "wen", "xavi", "yara", "zoe",
         "arjun", "bea", "carlos", "dana", "emil", "fatima", "gwen", "hugo", "ines", "jonas", "kofi", "lucia",
         "milan", "noor")
LAST = ("adler", "bauer", "chen", "diaz", "eriksen", "fischer", "garcia", "huber", "iyer", "jensen", "kowalski",
        "larsen", "moreau", "nakamura", "okafor", "patel", "quist", "rossi", "schmidt", "tanaka", "ueda", "vogel",
        "weber", "xu", "yilmaz", "zimmer")

SERVICES = (
    # id, team, source, model id, batch hour (UTC), requests per night
    ("svc-nightly-summarizer", "data-science", "bedrock_invocation", "br-claude-haiku", 2, 60),
    ("svc-ticket-triage", "support", "litellm_spend", "gw-gpt-4o-mini", 1, 80),
    ("svc-finance-reconcile", "finance", "azure_openai", "az-finance-gpt", 3, 40),
)


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_token(rng: random.Random, n: int,
                 alphabet: str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def iso_z(ts: datetime) -> str:
    """UTC to the second, as the vendor logs and the truth file write it."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_hash(rng: random.Random) -> str:
    """A LiteLLM virtual key as the proxy logs it: the SHA-256 of `sk-...` (never the key)."""
    return hashlib.sha256(("sk-" + random_token(rng, 22)).encode()).hexdigest()


def build_org(seed: int, identities: int = 40, days: int = 14, start: datetime = DEFAULT_START) -> Org:
    """A deterministic organisation: the same seed and sizes always give the same org."""
    rng = random.Random(seed)
    n_services = min(len(SERVICES), max(1, identities // 12))
    n_humans = max(4, identities - n_services)
    teams = list(TEAM_WEIGHTS)
    # every team gets at least one member, the rest by weight
    assigned = teams[:n_humans] + rng.choices(teams, weights=[TEAM_WEIGHTS[t] for t in teams],
                                              k=max(0, n_humans - len(teams)))
    people: list[Identity] = []
    used_names: set[str] = set()
    for n, team in enumerate(sorted(assigned, key=teams.index)):
        spec = TEAMS[team]
        while True:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if f"{first}.{last}" not in used_names:
                used_names.add(f"{first}.{last}")
                break
        login = f"{first}.{last}"
        email = f"{login}@acme.example"
        site = rng.choice(spec.sites)
        groups = spec.groups
        role = rng.choice(spec.roles)
        if team == "legal" and n % 2 == 0:
            groups = groups + ("legal-ma",)
        if team == "engineering" and rng.random() < 0.15:
            groups = groups + ("security",)
        models = spec.models
        if "legal-ma" in groups:
            models = models + ("br-claude-opus",)
        sources: tuple[Source, ...] = spec.sources
        if "br-claude-opus" in models and "bedrock_invocation" not in sources:
            sources = sources + ("bedrock_invocation",)
        if team != "platform" and rng.random() < 0.2:
            sources = sources + ("openai_audit",)  # signs in to the OpenAI console now and then
        people.append(Identity(
            id=f"u{n + 1:04d}", kind="human", name=f"{first.title()} {last.title()}", email=email, team=team,
            role=role, groups=groups, site=site,
            aws_arn=f"arn:aws:iam::{AWS_ACCOUNT}:user/{login}",
            entra_oid=random_uuid(rng), gateway_user=email, key_alias=f"{login}-laptop", key_hash=key_hash(rng),
            openai_user_id="user-" + random_token(rng, 24), sources=sources, models=models,
            rate=spec.rate * rng.uniform(0.6, 1.4),
        ))
    # onboarding: about one person joins per ONBOARDING_RATE identity-days, in the second half
    for _ in range(round(identities * days / ONBOARDING_RATE)):
        idx = rng.randrange(len(people))
        p = people[idx]
        people[idx] = Identity(**{**p.__dict__, "joined": rng.randrange(days // 2, max(days // 2 + 1, days - 2))})
    services: list[Identity] = []
    for sid, team, source, model_id, hour, per_night in SERVICES[:n_services]:
        role_name = sid.removeprefix("svc-")
        services.append(Identity(
            id=sid, kind="service", name=sid, email="", team=team, role="service", groups=(team, "service-accounts"),
            site="berlin",
            aws_arn=f"arn:aws:sts::{AWS_ACCOUNT}:assumed-role/{role_name}/batch",
            entra_oid=random_uuid(rng), gateway_user=sid, key_alias=f"{sid}-key", key_hash=key_hash(rng),
            openai_user_id="", sources=(source,), models=(model_id,),  # type: ignore[arg-type]
            rate=float(per_night), batch_hour_utc=hour,
        ))
    all_ids = tuple(people + services)

    grants: list[Grant] = []
    # a data scientist gets temporary access to the restricted source-code model
    ds = [p for p in people if p.team == "data-science"]
    if ds:
        who = ds[0]
        g_start = start + timedelta(days=max(1, days // 3), hours=8)
        grants.append(Grant(f"grant-{who.id}-gw-ft-source", who.id, "gw-ft-source", g_start, g_start + timedelta(days=4),
                            "CHG-4821: evaluate code model for the migration project", "security-lead@acme.example"))
    # standing grants for the people who use a model their groups do not cover
    approvals: list[Approval] = []
    for p in people:
        if p.team == "platform":
            approvals.append(Approval(f"approval-{p.id}-api-key-created", p.id, "api_key.created", start,
                                      start + timedelta(days=days), "standing approval: gateway key rotation",
                                      "ciso@acme.example"))
    trips: list[Trip] = []
    travellers = [p for p in people if "openai_audit" in p.sources and p.joined == 0]
    for _ in range(round(identities * days / TRAVEL_RATE) if travellers else 0):
        t = rng.choice(travellers)
        d0 = rng.randrange(days // 2, max(days // 2 + 1, days - 3))
        trips.append(Trip(t.id, rng.choice(("paris", "singapore")), d0, min(days, d0 + 3)))
    campaigns = (Campaign("marketing", rng.randrange(days // 2, days), 2.5),)
    return Org(seed=seed, start=start, days=days, models=MODELS, identities=all_ids, grants=tuple(grants),
               approvals=tuple(approvals), trips=tuple(trips), campaigns=campaigns)


# --- benign traffic ------------------------------------------------------------------------

# hourly activity shape of a working day, local time (0..23)
DIURNAL = (0, 0, 0, 0, 0, 0, 0, 0.05, 0.5, 0.9, 1.0, 0.9, 0.5, 0.7, 0.95, 1.0, 0.8, 0.5, 0.2, 0.05, 0, 0, 0, 0)


def allowed(org: Org, ident: Identity, model: Model, at: datetime) -> bool:
    """The inventory's verdict: a public model, a group match, or a grant valid at that time."""
    if model.tier == "public" or set(model.allowed_groups) & set(ident.groups):
        return True
    return any(g.identity == ident.id and g.model == model.id and g.start <= at < g.end for g in org.grants)


def site_on(org: Org, ident: Identity, day: int) -> Site:
    for trip in org.trips:
        if trip.identity == ident.id and trip.start_day <= day < trip.end_day:
            return FOREIGN[trip.site]
    return SITES[ident.site]


def _tokens(rng: random.Random, model: Model) -> tuple[int, int]:
    scale = {"public": 1.0, "internal": 1.5, "confidential": 2.0, "restricted": 2.0}[model.tier]
    inp = int(rng.lognormvariate(6.0, 0.8) * scale)
    out = int(rng.lognormvariate(5.3, 0.7) * scale)
    return max(5, inp), max(1, out)


def benign_activity(org: Org, rng: random.Random) -> list[Activity]:
    """Everyday traffic: humans in their own working hours, batches at night, grants used."""
    acts: list[Activity] = []
    for ident in org.identities:
        if ident.kind == "service":
            acts.extend(_nightly_batch(org, ident, rng))
            continue
        tz = ZoneInfo(ident.tz)
        invoke_models = [org.model(m) for m in ident.models if org.model(m).source in ident.sources]
        invoke_models += [org.model(g.model) for g in org.grants if g.identity == ident.id]
        for day in range(ident.joined, org.days):
            day_utc = org.start + timedelta(days=day)
            local_day = day_utc.astimezone(tz)
            weekday = local_day.weekday()
            factor = 1.0 if weekday < 5 else (0.0 if rng.random() > 0.08 else 0.15)
            if rng.random() < 0.06:
                factor = 0.0  # a day off
            for c in org.campaigns:
                if c.team == ident.team and c.day == day:
                    factor *= c.factor
            if factor == 0:
                continue
            site = site_on(org, ident, day)
            local_midnight = datetime(local_day.year, local_day.month, local_day.day, tzinfo=tz)
            if "openai_audit" in ident.sources and weekday < 5 and rng.random() < 0.5:
                ts = (local_midnight + timedelta(hours=8, minutes=rng.randrange(0, 120))).astimezone(UTC)
                acts.append(Activity(ts=ts, source="openai_audit", identity=ident, kind="login", site=site,
                                     operation="login.succeeded"))
            if not invoke_models:
                continue
            for hour, shape in enumerate(DIURNAL):
                n = _poisson(rng, ident.rate * shape * factor)
                for _ in range(n):
                    ts = (local_midnight + timedelta(hours=hour, seconds=rng.randrange(3600))).astimezone(UTC)
                    model = rng.choice(invoke_models)
                    if not allowed(org, ident, model, ts):
                        model = invoke_models[0]
                    inp, out = _tokens(rng, model)
                    outcome = "success"
                    r = rng.random()
                    if r < 0.01:
                        outcome = "throttled"
                    elif r < 0.015:
                        outcome = "invalid"
                    acts.append(Activity(ts=ts, source=model.source, identity=ident, model=model, outcome=outcome,
                                         input_tokens=inp, output_tokens=out, site=site))
    # platform admins rotate gateway keys now and then (approved)
    for ident in org.identities:
        if ident.team == "platform" and "openai_audit" in ident.sources:
            for day in range(2, org.days, 7):
                ts = org.start + timedelta(days=day, hours=10, minutes=rng.randrange(60))
                acts.append(Activity(ts=ts, source="openai_audit", identity=ident, kind="admin",
                                     operation="api_key.created", site=SITES[ident.site]))
    return acts


def _nightly_batch(org: Org, ident: Identity, rng: random.Random) -> list[Activity]:
    model = org.model(ident.models[0])
    acts = []
    for day in range(org.days):
        base = org.start + timedelta(days=day, hours=ident.batch_hour_utc)
        n = max(1, int(ident.rate * rng.uniform(0.85, 1.15)))
        for _ in range(n):
            ts = base + timedelta(seconds=rng.randrange(1800))
            inp, out = _tokens(rng, model)
            acts.append(Activity(ts=ts, source=model.source, identity=ident, model=model, input_tokens=inp * 2,
                                 output_tokens=out, site=SITES[ident.site]))
    return acts


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    # Knuth's method: small means only
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
