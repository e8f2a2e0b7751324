"""Drills, part 1: a simulated organisation and its benign traffic.

Cross-cutting (drills), before stage 1 (raw logs): `build_org` makes a deterministic organisation from a
seed and a profile (`PROFILES`, profiles.py: teams and roles, humans in several regions and
time zones, service accounts with their schedules, models in sensitivity tiers, dated
grants and approvals, travel, onboarding, campaign spikes and the other benign look-alikes);
`benign_activity` turns it into abstract `Activity` records, which `writers.py` renders in
the real vendor formats. What the organisation shares with the inventory is the inventory's
own dataclasses (siem_pack.inventory `Model`, `Identity`, `Grant`): a `Deployment` wraps a
model with the source that serves it, a `Member` wraps an identity with how it behaves, and
`Org.inventory()` is the `Inventory` that `writers.write_inventory` writes. Which models a
person may use is that inventory's verdict (`Policy`: `Inventory.verdict`, the rule ingest
applies). `attacks.py` adds labelled attack activity on top. Nothing here knows a vendor
format.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from ..inventory import AliasKind, Grant, Identity, Inventory, Model, iso_utc

Source = Literal["bedrock_invocation", "litellm_spend", "azure_openai", "openai_audit"]
Schedule = Literal["nightly", "hourly", "business"]

# the default first day (a Monday); a fixed date keeps a seed's output identical on any day
DEFAULT_START = datetime(2026, 3, 2, tzinfo=UTC)
# the simulated working day (DIURNAL) runs from 07:00 to 20:00 local: people's working hours
WORKING_HOURS = ("07:00:00", "20:00:00")
# the admins' standing approval: key creation, as the OpenAI audit pipeline writes
# `api_key.created` into event.action (dots become dashes)
KEY_CREATED_ACTION = "api-key-created"


@dataclass(frozen=True)
class Site:
    """Where a caller is: a region's time zone, country and egress addresses."""

    name: str
    tz: str
    country: str
    city: str
    region: str
    region_code: str
    lat: str
    lon: str
    asn: str
    ip_prefix: str  # first three octets of the egress range


@dataclass(frozen=True)
class Deployment:
    """A model behind one source. `spec` is the model as the inventory knows it (tier, owner,
    allowed groups, and the one name the logs give it: `gen_ai.request.model` after ingest);
    `provider_model` is what the source's calls name (Bedrock modelId, LiteLLM model, Azure
    deployment name). Deployments the logs name alike are one inventory model (`Org.inventory`)."""

    spec: Model
    source: Source
    provider_model: str

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def log_name(self) -> str:
        """The name the logs give the model (Azure: the modelName of the deployment)."""
        return self.spec.names[0]


@dataclass(frozen=True)
class Job:
    """A service account's schedule. `nightly`: one run a day at `hour` local time, `volume`
    requests spread over `minutes`; `hourly`: `volume` requests every hour, day and night;
    `business`: `volume` requests an hour on working days from `hour` to `end_hour` local.
    Token shapes scale the ordinary draw (a long-summary job writes much more than it reads).
    `rotating_session`: Bedrock calls come through an assumed role whose session name changes
    every run (an SDK default `botocore-session-<epoch>`, as AWS tools do)."""

    schedule: Schedule
    hour: int
    tz: str
    volume: float
    minutes: int = 30
    end_hour: int = 18
    input_scale: float = 2.0
    output_scale: float = 1.0
    rotating_session: bool = False


@dataclass(frozen=True)
class Member:
    """A human or service account of the organisation. `spec` is its inventory identity
    (name, type, groups, role, time zone, countries, and every alias the sources use for it);
    the rest is how the simulation has it behave."""

    spec: Identity
    team: str
    home: Site  # the office its calls leave from (a service account's egress)
    sources: tuple[Source, ...]
    models: tuple[str, ...]  # habitual deployment ids
    rate: float  # mean requests per active hour (humans)
    joined: int = 0  # first active day (0 = before the simulation)
    left: int = 0  # last active day, exclusive (0 = to the end)
    job: Job | None = None  # service accounts: the schedule
    bursty: bool = False  # uses agentic coding tools: bursts of calls in a few minutes

    @property
    def id(self) -> str:
        return self.spec.id

    def _alias(self, *kinds: AliasKind) -> str:
        return next((v for k, v in self.spec.aliases if k in kinds), "")

    @property
    def aws_arn(self) -> str:
        """The IAM user / role ARN, or the SSO session ARN (session name = e-mail)."""
        return self._alias("iam_arn", "iam_role")

    @property
    def entra_oid(self) -> str:
        return self._alias("entra_object_id")

    @property
    def gateway_user(self) -> str:
        """The LiteLLM user: people's is their e-mail (the inventory lists it once, as the
        e-mail); '' for a team key."""
        return self._alias("gateway_user") or self.spec.email

    @property
    def key_alias(self) -> str:
        return self._alias("key_alias")

    @property
    def key_hash(self) -> str:
        return self._alias("key_hash")

    @property
    def openai_user_id(self) -> str:
        return self._alias("openai_user_id")

    @property
    def batch_hour_utc(self) -> int:
        """A nightly job's start hour in UTC on the simulation's first day (for the truth file)."""
        if self.job is None:
            return 0
        local = datetime(2026, 3, 2, self.job.hour, tzinfo=ZoneInfo(self.job.tz))
        return local.astimezone(UTC).hour

    def aliases(self) -> list[str]:
        """Every name the sources give this identity, in the truth file's order."""
        names = [self.spec.email, self.aws_arn, self.entra_oid, self.gateway_user, self.key_alias, self.key_hash,
                 self.openai_user_id]
        return [n for n in dict.fromkeys(names) if n]


def inventory_aliases(email: str = "", aws_arn: str = "", entra_oid: str = "", openai_user_id: str = "",
                      gateway_user: str = "", key_alias: str = "", key_hash: str = ""
                      ) -> tuple[tuple[AliasKind, str], ...]:
    """The ids the sources give an identity as inventory aliases, each under its kind. A
    role's sessions (rotating names) are the identity, so a role ARN is an `iam_role` alias;
    a gateway user that is the e-mail is listed once, as the e-mail."""
    arn_kind: AliasKind = "iam_role" if ":role/" in aws_arn else "iam_arn"
    pairs: tuple[tuple[AliasKind, str], ...] = (
        ("email", email), (arn_kind, aws_arn), ("entra_object_id", entra_oid), ("openai_user_id", openai_user_id),
        ("gateway_user", "" if gateway_user == email else gateway_user), ("key_alias", key_alias),
        ("key_hash", key_hash))
    return tuple((kind, value) for kind, value in pairs if value)


@dataclass(frozen=True)
class Trip:
    identity: str
    site: str  # a foreign site of the profile
    start_day: int
    end_day: int  # exclusive
    recurring: bool = False  # a visit the identity already made in the simulation (a known pattern)


@dataclass(frozen=True)
class Campaign:
    """A whole team's legitimate spike (a launch, a quarter close)."""

    team: str
    day: int
    factor: float


@dataclass(frozen=True)
class Migration:
    """A team moves a shared service key to per-project keys (same total volume): the old
    identity stops on `day`, `keys` new identities of the team take its traffic over."""

    service: str
    day: int
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Team:
    """A team: where its people sit, their roles and groups, gateways, habitual models and
    mean requests per active hour. `subgroups`: (group, share of members, extra models) for
    cleared subsets (an M&A workspace, PHI reviewers); `console_share`: members who sign in
    to the OpenAI console; `bursty_share`: members using agentic coding tools; `sso_role`:
    members reach Bedrock through this IAM Identity Center permission set (the session
    name is their e-mail) instead of IAM users."""

    sites: tuple[str, ...]
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    sources: tuple[Source, ...]
    models: tuple[str, ...]
    rate: float
    subgroups: tuple[tuple[str, float, tuple[str, ...]], ...] = ()
    console_share: float = 0.2
    bursty_share: float = 0.0
    sso_role: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    """A service account of the profile: its team, source, model and schedule. `ip_site`: the
    home site its calls leave from; `migrate_keys`: split into this many project keys half-way."""

    id: str
    team: str
    source: Source
    model: str
    job: Job
    ip_site: str
    migrate_keys: int = 0


@dataclass(frozen=True)
class OrgProfile:
    """One simulated organisation: everything `build_org` draws people and services from.

    `attack_sites`: the foreign sites the attack scenarios come from, in the order the
    scenarios use them (abroad, impossible travel, new country, a hosting network);
    `trip_sites`: where benign travellers go; `grant`: (team, model) of the dated grant;
    `admins`: the team holding the standing key-rotation approval and the admin actions."""

    name: str
    description: str
    domain: str
    aws_account: str
    azure_resource: str
    azure_region: str
    openai_project: tuple[str, str]
    sites: dict[str, Site]
    foreign: dict[str, Site]
    teams: dict[str, Team]
    team_weights: dict[str, int]
    models: tuple[Deployment, ...]
    services: tuple[ServiceSpec, ...]
    identities_per_service: int
    attack_sites: tuple[str, str, str, str]
    trip_sites: tuple[str, ...]
    grant: tuple[str, str]
    admins: str
    campaign_team: str
    onboarding_rate: int = 400  # one person joins per this many identity-days
    travel_rate: int = 500  # one business trip per this many identity-days
    recurring_travel_share: float = 0.0  # share of trips repeating an earlier visit

    def site(self, name: str) -> Site:
        return self.sites.get(name) or self.foreign[name]


@dataclass(frozen=True)
class Org:
    seed: int
    start: datetime
    days: int
    models: tuple[Deployment, ...]
    identities: tuple[Member, ...]
    grants: tuple[Grant, ...]  # dated access to a model (kind `approval`: a temporary elevation)
    approvals: tuple[Grant, ...]  # standing approvals of a privileged action (kind `grant`)
    trips: tuple[Trip, ...]
    campaigns: tuple[Campaign, ...]
    profile: OrgProfile
    migrations: tuple[Migration, ...] = ()

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    def model(self, model_id: str) -> Deployment:
        return next(m for m in self.models if m.id == model_id)

    def identity(self, identity_id: str) -> Member:
        return next(i for i in self.identities if i.id == identity_id)

    def inventory(self) -> Inventory:
        """The organisation as inventory content (`writers.write_inventory` writes it): one
        model per name the logs carry (gpt-4o on two routes), a public one open to every
        group; every member's identity; the grants, then the approvals."""
        everyone = tuple(sorted({g for i in self.identities for g in i.spec.groups}))
        by_name: dict[str, list[Model]] = {}
        for d in self.models:
            by_name.setdefault(d.log_name, []).append(d.spec)
        models = []
        for name, same in by_name.items():
            m = same[0]
            assert all(x.tier == m.tier for x in same), f"models logged as {name} disagree on the tier"
            groups = everyone if m.tier == "public" else tuple(dict.fromkeys(g for x in same for g in x.allowed_groups))
            models.append(replace(m, allowed_groups=groups))
        return Inventory(models=tuple(models), identities=tuple(i.spec for i in self.identities),
                         grants=self.grants + self.approvals)


@dataclass
class Activity:
    """One abstract access event; `writers.py` renders it in its source's vendor format.

    kind: invoke (a model call), login (a console sign-in), admin (a control-plane action).
    `outcome` is success, denied (authorisation), invalid (validation error), throttled,
    guardrail (the guardrail intervened) or failed_login.
    """

    ts: datetime
    source: Source
    identity: Member
    kind: Literal["invoke", "login", "admin"] = "invoke"
    model: Deployment | None = None
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


# --- helpers ------------------------------------------------------------------------------

FIRST = ("ada", "ben", "chloe", "dev", "elif", "farah", "goran", "hana", "ivan", "jun", "kiri", "lena", "mateo",
         "nia", "omar", "priya", "quinn", "rosa", "sven", "tara", "uma", "viktor", "wen", "xavi", "yara", "zoe",
         "arjun", "bea", "carlos", "dana", "emil", "fatima", "gwen", "hugo", "ines", "jonas", "kofi", "lucia",
         "milan", "noor", "aiko", "bruno", "chidi", "daiki", "eva", "felipe", "grace", "haruto", "isla", "joao",
         "keiko", "liam", "mei", "nikhil", "olivia", "paulo", "ren", "sofia", "takumi", "valentina")
LAST = ("adler", "bauer", "chen", "diaz", "eriksen", "fischer", "garcia", "huber", "iyer", "jensen", "kowalski",
        "larsen", "moreau", "nakamura", "okafor", "patel", "quist", "rossi", "schmidt", "tanaka", "ueda", "vogel",
        "weber", "xu", "yilmaz", "zimmer", "abe", "brown", "costa", "dubois", "ito", "kim", "lopez", "murphy",
        "nguyen", "oliveira", "park", "santos", "silva", "smith", "suzuki", "taylor", "wong", "yamamoto")


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def random_token(rng: random.Random, n: int,
                 alphabet: str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def key_hash(rng: random.Random) -> str:
    """A LiteLLM virtual key as the proxy logs it: the SHA-256 of `sk-...` (never the key)."""
    return hashlib.sha256(("sk-" + random_token(rng, 22)).encode()).hexdigest()


def local_time(day_utc: datetime, tz: str, hours: float) -> datetime:
    """`hours` after local midnight of the local day that `day_utc` falls on, in UTC."""
    zone = ZoneInfo(tz)
    d = day_utc.astimezone(zone)
    return (datetime(d.year, d.month, d.day, tzinfo=zone) + timedelta(hours=hours)).astimezone(UTC)


# --- the organisation -------------------------------------------------------------------

def build_org(seed: int, profile: OrgProfile, identities: int = 40, days: int = 14,
              start: datetime = DEFAULT_START) -> Org:
    """A deterministic organisation: the same seed, profile (profiles.PROFILES) and sizes
    always give the same org."""
    prof = profile
    rng = random.Random(seed)
    n_services = min(len(prof.services), max(1, identities // prof.identities_per_service))
    n_keys = sum(s.migrate_keys for s in prof.services[:n_services]) if days >= 6 else 0
    people = _humans(rng, prof, max(4, identities - n_services - n_keys))
    # onboarding: about one person joins per onboarding_rate identity-days, in the second half
    for _ in range(round(identities * days / prof.onboarding_rate)):
        idx = rng.randrange(len(people))
        people[idx] = replace(people[idx], joined=rng.randrange(days // 2, max(days // 2 + 1, days - 2)))
    services: list[Member] = []
    migrations: list[Migration] = []
    for svc in prof.services[:n_services]:
        ident, keys, migration = _service_account(rng, prof, svc, days)
        services += [ident, *keys]
        migrations += [migration] if migration else []
    trips = _trips(rng, prof, people, identities, days)
    campaigns = (Campaign(prof.campaign_team, rng.randrange(days // 2, days), 2.5),)
    approver = next((p.id for p in people if p.team == prof.admins), people[0].id)  # approves every grant
    return Org(seed=seed, start=start, days=days, models=prof.models, identities=tuple(people + services),
               grants=_grants(prof, people, start, days, approver),
               approvals=_approvals(prof, people, start, days, approver),
               trips=tuple(trips), campaigns=campaigns, profile=prof, migrations=tuple(migrations))


def _humans(rng: random.Random, prof: OrgProfile, n_humans: int) -> list[Member]:
    """The people, by team: every team gets at least one member, the rest by weight."""
    teams = list(prof.team_weights)
    assigned = teams[:n_humans] + rng.choices(teams, weights=[prof.team_weights[t] for t in teams],
                                              k=max(0, n_humans - len(teams)))
    used_names: set[str] = set()
    return [_human(rng, prof, n, team, used_names) for n, team in enumerate(sorted(assigned, key=teams.index))]


def _human(rng: random.Random, prof: OrgProfile, n: int, team: str, used_names: set[str]) -> Member:
    spec = prof.teams[team]
    while True:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if f"{first}.{last}" not in used_names:
            used_names.add(f"{first}.{last}")
            break
    login = f"{first}.{last}"
    email = f"{login}@{prof.domain}"
    home = prof.sites[rng.choice(spec.sites)]
    groups, models = spec.groups, spec.models
    for group, share, extra in spec.subgroups:
        if rng.random() < share:
            groups, models = groups + (group,), models + extra
    role = rng.choice(spec.roles)
    sources: tuple[Source, ...] = spec.sources
    for mid in models:
        src = next(m.source for m in prof.models if m.id == mid)
        if src not in sources:
            sources = sources + (src,)
    if team != prof.admins and "openai_audit" not in sources and rng.random() < spec.console_share:
        sources = sources + ("openai_audit",)  # signs in to the OpenAI console now and then
    if spec.sso_role:
        aws_arn = f"arn:aws:sts::{prof.aws_account}:assumed-role/{spec.sso_role}/{email}"
    else:
        aws_arn = f"arn:aws:iam::{prof.aws_account}:user/{login}"
    ident = Identity(
        id=f"u{n + 1:04d}", name=f"{first.title()} {last.title()}", type="human", email=email, groups=groups,
        roles=(role,), time_zone=home.tz,
        aliases=inventory_aliases(email=email, aws_arn=aws_arn, entra_oid=random_uuid(rng), gateway_user=email,
                                  key_alias=f"{login}-laptop", key_hash=key_hash(rng),
                                  openai_user_id="user-" + random_token(rng, 24)),
        working_hours=WORKING_HOURS, countries=(home.country,),
    )
    return Member(ident, team=team, home=home, sources=sources, models=models,
                  rate=spec.rate * rng.uniform(0.6, 1.4), bursty=rng.random() < spec.bursty_share)


def _service_account(rng: random.Random, prof: OrgProfile, svc: ServiceSpec, days: int
                     ) -> tuple[Member, list[Member], Migration | None]:
    """A service account; with `migrate_keys` (and days enough), the per-project keys it
    migrates to midway, and that migration."""
    role_name = svc.id.removeprefix("svc-")
    if svc.job.rotating_session:
        aws_arn = f"arn:aws:iam::{prof.aws_account}:role/{role_name}"
    else:
        aws_arn = f"arn:aws:sts::{prof.aws_account}:assumed-role/{role_name}/batch"
    home = prof.sites[svc.ip_site]
    ident = Identity(
        id=svc.id, name=svc.id, type="service", email="", groups=(svc.team, "service-accounts"),
        roles=("service",), time_zone=svc.job.tz,
        aliases=inventory_aliases(aws_arn=aws_arn, entra_oid=random_uuid(rng), gateway_user=svc.id,
                                  key_alias=f"{svc.id}-key", key_hash=key_hash(rng)),
        countries=(home.country,),
    )
    account = Member(ident, team=svc.team, home=home, sources=(svc.source,), models=(svc.model,),
                     rate=svc.job.volume, job=svc.job)
    if not (svc.migrate_keys and days >= 6):
        return account, [], None
    keys: list[Member] = []
    day = days // 2 - 1 + rng.randrange(0, 3)
    split_job = replace(svc.job, volume=svc.job.volume / svc.migrate_keys)
    for k in range(svc.migrate_keys):
        kid = f"{svc.id}-p{k + 1:02d}"
        # per-project team keys: no gateway user, the key alias names the project
        aliases = inventory_aliases(key_alias=f"{svc.team}-proj-{random_token(rng, 6).lower()}",
                                    key_hash=key_hash(rng), entra_oid=random_uuid(rng))
        keys.append(replace(account, spec=replace(ident, id=kid, name=kid, aliases=aliases), joined=day,
                            job=split_job))
    return replace(account, left=day), keys, Migration(svc.id, day, tuple(k.id for k in keys))


def _grants(prof: OrgProfile, people: list[Member], start: datetime, days: int, approver: str
            ) -> tuple[Grant, ...]:
    """One member of a team gets temporary access to a restricted model (a dated approval)."""
    g_team, g_model = prof.grant
    cands = [p for p in people if p.team == g_team]
    if not cands:
        return ()
    who = cands[0]
    g_start = start + timedelta(days=max(1, days // 3), hours=8)
    return (Grant(id=f"grant-{who.id}-{g_model}", kind="approval", identities=(who.id,), groups=(),
                  models=(g_model,), actions=(), start=iso_utc(g_start), expiry=iso_utc(g_start + timedelta(days=4)),
                  justification="CHG-4821: evaluate the model for the migration project", approved_by=approver),)


def _approvals(prof: OrgProfile, people: list[Member], start: datetime, days: int, approver: str
               ) -> tuple[Grant, ...]:
    """The admins' standing approvals of gateway key rotation."""
    return tuple(Grant(id=f"approval-{p.id}-{KEY_CREATED_ACTION}", kind="grant", identities=(p.id,), groups=(),
                       models=(), actions=(KEY_CREATED_ACTION,), start=iso_utc(start),
                       expiry=iso_utc(start + timedelta(days=days)),
                       justification="standing approval: gateway key rotation", approved_by=approver)
                 for p in people if p.team == prof.admins)


def _trips(rng: random.Random, prof: OrgProfile, people: list[Member], identities: int, days: int) -> list[Trip]:
    """Trips abroad of people who sign in to the OpenAI console (and were there from the start)."""
    trips: list[Trip] = []
    travellers = [p for p in people if "openai_audit" in p.sources and p.joined == 0]
    for _ in range(round(identities * days / prof.travel_rate) if travellers else 0):
        t = rng.choice(travellers)
        site = rng.choice(prof.trip_sites)
        d0 = rng.randrange(days // 2, max(days // 2 + 1, days - 3))
        if rng.random() < prof.recurring_travel_share and days >= 10:
            # a regular visitor: the same office abroad in the first days too (a known pattern)
            trips.append(Trip(t.id, site, 1, 3, recurring=False))
            trips.append(Trip(t.id, site, d0, min(days, d0 + 3), recurring=True))
        else:
            trips.append(Trip(t.id, site, d0, min(days, d0 + 3)))
    return trips


# --- benign traffic ------------------------------------------------------------------------

# hourly activity shape of a working day, local time (0..23)
DIURNAL = (0, 0, 0, 0, 0, 0, 0, 0.05, 0.5, 0.9, 1.0, 0.9, 0.5, 0.7, 0.95, 1.0, 0.8, 0.5, 0.2, 0.05, 0, 0, 0, 0)


class Policy:
    """The inventory's verdict (siem_pack.inventory.Inventory.verdict) on a simulated access,
    so benign traffic is what the policy allows, by the same rule ingest applies. Cached per
    (identity, model) where no grant of the pair makes the verdict depend on the time."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._static: dict[tuple[str, str], bool] = {}

    def allows(self, ident: Member, model: Deployment, at: datetime) -> bool:
        key = (ident.id, model.id)
        if key in self._static:
            return self._static[key]
        inv_model, inv_ident = self.inventory.model_for(model.log_name), self.inventory.identity(ident.id)
        ok = self.inventory.verdict(inv_model, inv_ident, iso_utc(at))[0] == "compliant"
        if inv_model is None or inv_ident is None or not self.inventory.grants_for(inv_model, inv_ident):
            self._static[key] = ok
        return ok


def site_on(org: Org, ident: Member, day: int) -> Site:
    for trip in org.trips:
        if trip.identity == ident.id and trip.start_day <= day < trip.end_day:
            return org.profile.foreign[trip.site]
    return ident.home


def _tokens(rng: random.Random, model: Deployment) -> tuple[int, int]:
    scale = {"public": 1.0, "internal": 1.5, "confidential": 2.0, "restricted": 2.0}[model.spec.tier]
    inp = int(rng.lognormvariate(6.0, 0.8) * scale)
    out = int(rng.lognormvariate(5.3, 0.7) * scale)
    return max(5, inp), max(1, out)


def benign_activity(org: Org, rng: random.Random, policy: Policy) -> list[Activity]:
    """Everyday traffic: humans in their own working hours (agentic users in bursts), service
    accounts on their schedules, grants used, keys rotated."""
    acts: list[Activity] = []
    for ident in org.identities:
        if ident.spec.type == "service":
            acts.extend(_service(org, ident, rng))
            continue
        invoke_models = [org.model(m) for m in ident.models if org.model(m).source in ident.sources]
        invoke_models += [org.model(m) for g in org.grants if ident.id in g.identities for m in g.models]
        for day in range(ident.joined, org.days):
            acts.extend(_human_day(org, ident, rng, policy, day, invoke_models))
    # admins rotate gateway keys now and then (approved)
    for ident in org.identities:
        if ident.team == org.profile.admins and "openai_audit" in ident.sources:
            for day in range(2, org.days, 7):
                ts = org.start + timedelta(days=day, hours=10, minutes=rng.randrange(60))
                acts.append(Activity(ts=ts, source="openai_audit", identity=ident, kind="admin",
                                     operation="api_key.created", site=ident.home))
    return acts


def _day_factor(org: Org, ident: Member, rng: random.Random, day: int, weekday: int) -> float:
    """How much of a usual working day a person works that day: weekends mostly off, a day
    off now and then, more in their team's campaign."""
    factor = 1.0 if weekday < 5 else (0.0 if rng.random() > 0.08 else 0.15)
    if rng.random() < 0.06:
        factor = 0.0  # a day off
    for c in org.campaigns:
        if c.team == ident.team and c.day == day:
            factor *= c.factor
    return factor


def _human_day(org: Org, ident: Member, rng: random.Random, policy: Policy, day: int,
               invoke_models: list[Deployment]) -> list[Activity]:
    """One person's day: a console sign-in, model calls over their working hours, agent bursts."""
    tz = ZoneInfo(ident.spec.time_zone)
    local_day = (org.start + timedelta(days=day)).astimezone(tz)
    weekday = local_day.weekday()
    factor = _day_factor(org, ident, rng, day, weekday)
    if factor == 0:
        return []
    acts: list[Activity] = []
    site = site_on(org, ident, day)
    local_midnight = datetime(local_day.year, local_day.month, local_day.day, tzinfo=tz)
    if "openai_audit" in ident.sources and weekday < 5 and rng.random() < 0.5:
        ts = (local_midnight + timedelta(hours=8, minutes=rng.randrange(0, 120))).astimezone(UTC)
        acts.append(Activity(ts=ts, source="openai_audit", identity=ident, kind="login", site=site,
                             operation="login.succeeded"))
    if not invoke_models:
        return acts
    for hour, shape in enumerate(DIURNAL):
        for _ in range(_poisson(rng, ident.rate * shape * factor)):
            ts = (local_midnight + timedelta(hours=hour, seconds=rng.randrange(3600))).astimezone(UTC)
            model = rng.choice(invoke_models)
            if not policy.allows(ident, model, ts):
                model = invoke_models[0]
            inp, out = _tokens(rng, model)
            acts.append(Activity(ts=ts, source=model.source, identity=ident, model=model, outcome=_outcome(rng),
                                 input_tokens=inp, output_tokens=out, site=site))
    if ident.bursty and factor >= 1.0:
        acts.extend(_agentic_bursts(org, ident, rng, local_midnight, site, invoke_models))
    return acts


def _outcome(rng: random.Random) -> str:
    r = rng.random()
    return "throttled" if r < 0.01 else "invalid" if r < 0.015 else "success"


def _agentic_bursts(org: Org, ident: Member, rng: random.Random, local_midnight: datetime, site: Site,
                    models: list[Deployment]) -> list[Activity]:
    """A coding agent's sessions: one to three bursts a working day of 25-70 calls in 5-15
    minutes on the identity's first habitual model (tool calls: longer prompts, short answers)."""
    model = next((m for m in models if m.spec.tier != "public"), models[0])
    acts = []
    for _ in range(rng.randint(1, 3)):
        t0 = local_midnight + timedelta(hours=rng.uniform(9.0, 17.0))
        n, span = rng.randint(25, 70), rng.uniform(300, 900)
        for _k in range(n):
            ts = (t0 + timedelta(seconds=rng.uniform(0, span))).astimezone(UTC)
            inp, out = _tokens(rng, model)
            acts.append(Activity(ts=ts, source=model.source, identity=ident, model=model, input_tokens=inp * 3,
                                 output_tokens=max(1, out // 2), site=site))
    return acts


def _service(org: Org, ident: Member, rng: random.Random) -> list[Activity]:
    """A service account's runs on its schedule (its own time zone), from its home egress."""
    job = ident.job
    assert job is not None
    model = org.model(ident.models[0])
    acts: list[Activity] = []
    last = ident.left or org.days

    def call(ts: datetime, session: str) -> None:
        inp, out = _tokens(rng, model)
        extra: dict[str, object] = {}
        if session:
            extra["arn"] = session
        acts.append(Activity(ts=ts, source=model.source, identity=ident, model=model,
                             input_tokens=max(5, int(inp * job.input_scale)),
                             output_tokens=max(1, int(out * job.output_scale)), site=ident.home, extra=extra))

    def session_arn(ts: datetime) -> str:
        if not (job.rotating_session and model.source == "bedrock_invocation"):
            return ""
        account = ident.aws_arn.split(":")[4]
        return f"arn:aws:sts::{account}:assumed-role/{ident.id.removeprefix('svc-')}/botocore-session-" \
               f"{int(ts.timestamp())}"

    for day in range(ident.joined, last):
        day_utc = org.start + timedelta(days=day)
        if job.schedule == "nightly":
            base = local_time(day_utc, job.tz, job.hour)
            session = session_arn(base)
            for _ in range(max(1, int(job.volume * rng.uniform(0.85, 1.15)))):
                call(base + timedelta(seconds=rng.randrange(job.minutes * 60)), session)
        elif job.schedule == "hourly":
            for hour in range(24):
                base = local_time(day_utc, job.tz, hour + rng.uniform(0.05, 0.2))
                session = session_arn(base)
                for _ in range(_poisson(rng, job.volume)):
                    call(base + timedelta(seconds=rng.randrange(job.minutes * 60)), session)
        else:  # business hours, working days
            if local_time(day_utc, job.tz, 12).astimezone(ZoneInfo(job.tz)).weekday() >= 5:
                continue
            for hour in range(job.hour, job.end_hour):
                base = local_time(day_utc, job.tz, hour)
                session = session_arn(base)
                for _ in range(_poisson(rng, job.volume)):
                    call(base + timedelta(seconds=rng.randrange(3600)), session)
    return acts


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation: Knuth's product underflows for large means
        return max(0, round(rng.gauss(lam, lam ** 0.5)))
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
