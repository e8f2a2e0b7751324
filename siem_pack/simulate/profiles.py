"""Cross-cutting (drills), part 0: the organisations the simulator can draw (`siem-pack
simulate --org NAME`).

Content for org.py's `build_org`: each profile is one organisation's teams, sites and time
zones, models in sensitivity tiers, service accounts with their schedules and the benign
look-alikes it is known for. Two orgs, so rules and baselines are never checked against one
organisation only:

- `acme` (the default): 7 teams in Berlin, London, Seattle and Bengaluru, four log sources
  (Bedrock through IAM users, a LiteLLM gateway, Azure OpenAI, the OpenAI console), a few
  nightly batches (one through an assumed role with rotating session names), a legal
  long-summary job and a data-science shared key migrated to per-project keys;
- `northwind`: a health insurer in Tokyo, Sydney, New York, Toronto and São Paulo, 8 teams,
  Bedrock through IAM Identity Center roles (session name = e-mail) and many service roles
  with rotating session names, a LiteLLM gateway with team keys, one team on Azure, more
  service accounts per head (nightly, hourly and business-hours jobs in their own time
  zones), coding-agent users with bursty traffic, and regular travellers.
"""

from __future__ import annotations

from ..inventory import Model, Tier
from .org import Deployment, Job, OrgProfile, ServiceSpec, Site, Source, Team


def _model(model_id: str, description: str, tier: Tier, owner: str, environment: str, allowed_groups: tuple[str, ...],
           source: Source, provider_model: str, log_name: str = "") -> Deployment:
    """A deployment as a profile writes it: the inventory model, logged under `log_name` (an
    Azure deployment's modelName) or else under `provider_model`."""
    spec = Model(id=model_id, description=description, names=(log_name or provider_model,), tier=tier, owner=owner,
                 environment=environment, allowed_groups=allowed_groups, allowed_roles=())
    return Deployment(spec, source, provider_model)


# --- acme ------------------------------------------------------------------------------------

ACME_SITES = {s.name: s for s in (
    Site("berlin", "Europe/Berlin", "DE", "Berlin", "Land Berlin", "BE", "52.52437", "13.41053", "3320", "89.160.20"),
    Site("london", "Europe/London", "GB", "London", "England", "ENG", "51.50853", "-0.12574", "2856", "81.2.69"),
    Site("seattle", "America/Los_Angeles", "US", "Seattle", "Washington", "WA", "47.60621", "-122.33207", "209",
         "216.160.83"),
    Site("bangalore", "Asia/Kolkata", "IN", "Bengaluru", "Karnataka", "KA", "12.97194", "77.59369", "55836",
         "175.16.199"),
)}
# places benign travellers visit and attackers come from (not office egress ranges)
ACME_FOREIGN = {s.name: s for s in (
    Site("paris", "Europe/Paris", "FR", "Paris", "Ile-de-France", "IDF", "48.85341", "2.3488", "3215", "67.43.156"),
    Site("sao_paulo", "America/Sao_Paulo", "BR", "Sao Paulo", "Sao Paulo", "SP", "-23.5475", "-46.63611", "28573",
         "2.125.160"),
    Site("singapore", "Asia/Singapore", "SG", "Singapore", "Singapore", "01", "1.28967", "103.85007", "4657",
         "202.196.224"),
    Site("lagos", "Africa/Lagos", "NG", "Lagos", "Lagos", "LA", "6.45407", "3.39467", "37148", "149.101.100"),
    # a rented virtual server: a hosting provider's network, not a person's
    Site("amsterdam_vps", "Europe/Amsterdam", "NL", "Amsterdam", "North Holland", "NH", "52.37403", "4.88969",
         "14061", "188.166.12"),
)}

ACME_TEAMS = {
    "engineering": Team(("berlin", "seattle", "bangalore"), ("engineer", "staff-engineer"), ("engineering",),
                        ("litellm_spend", "bedrock_invocation"),
                        ("gw-gpt-4o-mini", "gw-gpt-4o", "br-claude-haiku", "br-claude-sonnet"), 5.0,
                        subgroups=(("security", 0.15, ()),), bursty_share=0.3),
    "data-science": Team(("berlin", "london"), ("data-scientist",), ("data-science", "engineering"),
                         ("bedrock_invocation", "litellm_spend"), ("br-claude-sonnet", "br-llama-70b", "gw-gpt-4o"),
                         6.0),
    "finance": Team(("london",), ("analyst", "controller"), ("finance",), ("azure_openai",),
                    ("az-gpt-4o", "az-finance-gpt"), 3.0),
    "legal": Team(("london", "berlin"), ("counsel",), ("legal",), ("azure_openai",), ("az-gpt-4o", "az-legal-review"),
                  2.0, subgroups=(("legal-ma", 0.5, ("br-claude-opus",)),)),
    "marketing": Team(("seattle", "london"), ("marketer",), ("marketing",), ("litellm_spend", "azure_openai"),
                      ("gw-gpt-4o-mini", "az-gpt-35"), 3.0),
    "support": Team(("bangalore",), ("agent",), ("support",), ("litellm_spend",), ("gw-gpt-4o-mini",), 4.0),
    "platform": Team(("berlin", "seattle"), ("platform-admin",), ("platform", "engineering"),
                     ("litellm_spend", "openai_audit"), ("gw-gpt-4o-mini", "gw-gpt-4o"), 2.0),
}

ACME_MODELS: tuple[Deployment, ...] = (
    _model("gw-gpt-4o-mini", "GPT-4o mini via the gateway", "public", "platform", "prod", (), "litellm_spend",
           "gpt-4o-mini"),
    _model("gw-gpt-4o", "GPT-4o (through the gateway and on Azure)", "internal", "platform", "prod",
           ("engineering", "data-science", "platform", "finance", "legal", "marketing"), "litellm_spend", "gpt-4o"),
    _model("gw-o1", "o1 reasoning via the gateway", "confidential", "platform", "prod", ("data-science",),
           "litellm_spend", "o1"),
    _model("gw-ft-hr", "Fine-tuned HR assistant", "restricted", "people-ops", "prod", ("hr",), "litellm_spend",
           "ft:gpt-4o-2024-08-06:acme:hr-assist:B1x9"),
    _model("gw-ft-source", "Fine-tuned on source code", "restricted", "engineering", "prod", ("security",),
           "litellm_spend", "ft:gpt-4o-2024-08-06:acme:code-core:C7k2"),
    _model("br-claude-haiku", "Claude 3 Haiku on Bedrock", "public", "platform", "prod", (), "bedrock_invocation",
           "anthropic.claude-3-haiku-20240307-v1:0"),
    _model("br-claude-sonnet", "Claude 3.5 Sonnet on Bedrock", "internal", "platform", "prod",
           ("engineering", "data-science"), "bedrock_invocation", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    _model("br-llama-70b", "Llama 3 70B on Bedrock", "confidential", "data-science", "prod", ("data-science",),
           "bedrock_invocation", "meta.llama3-70b-instruct-v1:0"),
    _model("br-claude-opus", "Claude 3 Opus on Bedrock (M&A workspace)", "restricted", "legal", "prod",
           ("legal-ma",), "bedrock_invocation", "anthropic.claude-3-opus-20240229-v1:0"),
    _model("az-gpt-35", "GPT-3.5 Turbo on Azure", "public", "platform", "prod", (), "azure_openai", "gpt35-general",
           "gpt-35-turbo"),
    _model("az-gpt-4o", "GPT-4o on Azure", "internal", "platform", "prod",
           ("engineering", "data-science", "platform", "finance", "legal", "marketing"), "azure_openai",
           "gpt4o-internal", "gpt-4o"),
    # Azure logs the base model name (modelName); fine-tuned deployments carry the .ft- suffix
    _model("az-finance-gpt", "Finance close assistant (fine-tuned)", "confidential", "finance", "prod", ("finance",),
           "azure_openai", "gpt4o-finance", "gpt-4o-2024-08-06.ft-7c1d9e0f2a3b4c5d"),
    _model("az-legal-review", "Legal review assistant (fine-tuned)", "restricted", "legal", "prod", ("legal",),
           "azure_openai", "gpt4o-legal-review", "gpt-4o-2024-08-06.ft-1a2b3c4d5e6f7a8b"),
)

ACME_SERVICES = (
    ServiceSpec("svc-nightly-summarizer", "data-science", "bedrock_invocation", "br-claude-haiku",
                Job("nightly", 2, "UTC", 60, rotating_session=True), "berlin"),
    ServiceSpec("svc-ticket-triage", "support", "litellm_spend", "gw-gpt-4o-mini", Job("nightly", 1, "UTC", 80),
                "berlin"),
    ServiceSpec("svc-ds-notebooks", "data-science", "litellm_spend", "gw-o1",
                Job("business", 9, "Europe/Berlin", 6, end_hour=18), "berlin", migrate_keys=8),
    ServiceSpec("svc-contract-digest", "legal", "litellm_spend", "gw-gpt-4o",
                Job("nightly", 22, "Europe/London", 30, minutes=45, input_scale=0.5, output_scale=8.0), "london"),
    ServiceSpec("svc-finance-reconcile", "finance", "azure_openai", "az-finance-gpt", Job("nightly", 3, "UTC", 40),
                "berlin"),
)

ACME = OrgProfile(
    name="acme", description="Acme: 7 teams in Berlin, London, Seattle and Bengaluru; Bedrock, LiteLLM, Azure OpenAI "
    "and the OpenAI console", domain="acme.example", aws_account="402917365580",
    azure_resource=("/SUBSCRIPTIONS/5B8E2C47-3F1A-4D6B-9C0E-7A1F2D3B4C5D/RESOURCEGROUPS/RG-AI-PROD/PROVIDERS/"
                    "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/ACME-OPENAI-PROD"),
    azure_region="westeurope", openai_project=("proj_acme7Xq2LmN4", "acme-default"),
    sites=ACME_SITES, foreign=ACME_FOREIGN, teams=ACME_TEAMS,
    team_weights={"engineering": 10, "data-science": 5, "finance": 4, "legal": 3, "marketing": 4, "support": 4,
                  "platform": 2},
    models=ACME_MODELS, services=ACME_SERVICES, identities_per_service=8,
    attack_sites=("singapore", "lagos", "sao_paulo", "amsterdam_vps"), trip_sites=("paris", "singapore"),
    grant=("data-science", "gw-ft-source"), admins="platform", campaign_team="marketing",
)

# --- northwind -------------------------------------------------------------------------------

NW_SITES = {s.name: s for s in (
    Site("tokyo", "Asia/Tokyo", "JP", "Tokyo", "Tokyo", "13", "35.6895", "139.69171", "2516", "126.78.44"),
    Site("sydney", "Australia/Sydney", "AU", "Sydney", "New South Wales", "NSW", "-33.86785", "151.20732", "1221",
         "101.160.12"),
    Site("new_york", "America/New_York", "US", "New York", "New York", "NY", "40.71427", "-74.00597", "7922",
         "73.201.88"),
    Site("toronto", "America/Toronto", "CA", "Toronto", "Ontario", "ON", "43.70011", "-79.4163", "812", "99.224.15"),
    Site("sao_paulo", "America/Sao_Paulo", "BR", "Sao Paulo", "Sao Paulo", "SP", "-23.5475", "-46.63611", "28573",
         "177.92.40"),
)}
NW_FOREIGN = {s.name: s for s in (
    Site("london", "Europe/London", "GB", "London", "England", "ENG", "51.50853", "-0.12574", "2856", "81.2.70"),
    Site("singapore", "Asia/Singapore", "SG", "Singapore", "Singapore", "01", "1.28967", "103.85007", "4657",
         "202.196.225"),
    Site("lagos", "Africa/Lagos", "NG", "Lagos", "Lagos", "LA", "6.45407", "3.39467", "37148", "149.101.101"),
    Site("bucharest", "Europe/Bucharest", "RO", "Bucharest", "Bucuresti", "B", "44.43225", "26.10626", "8708",
         "86.120.33"),
    Site("almaty", "Asia/Almaty", "KZ", "Almaty", "Almaty", "75", "43.25654", "76.92848", "9198", "92.46.58"),
    Site("frankfurt_vps", "Europe/Berlin", "DE", "Frankfurt am Main", "Hesse", "HE", "50.11552", "8.68417", "24940",
         "78.46.201"),
)}

NW_TEAMS = {
    "app-dev": Team(("tokyo", "sydney", "sao_paulo"), ("developer", "sre"), ("app-dev",),
                    ("litellm_spend", "bedrock_invocation"), ("nw-gw-mini", "nw-gw-41", "nw-br-sonnet", "nw-br-haiku"),
                    5.0, console_share=0.1, bursty_share=0.5, sso_role="AWSReservedSSO_AppDeveloper_4f2a9c1d7e3b5a60"),
    "data-platform": Team(("sydney", "tokyo"), ("data-engineer",), ("data-platform",),
                          ("bedrock_invocation", "litellm_spend"), ("nw-br-sonnet", "nw-br-llama", "nw-gw-o3", "nw-gw-41"),
                          4.0, console_share=0.15, bursty_share=0.2,
                          sso_role="AWSReservedSSO_DataPlatform_9b1c3d5e7f2a4b6c"),
    "research": Team(("tokyo",), ("research-scientist",), ("research",), ("litellm_spend",),
                     ("nw-gw-o3", "nw-gw-41", "nw-gw-mini"), 4.0, console_share=0.3),
    "actuarial": Team(("toronto",), ("actuary", "analyst"), ("actuarial",), ("bedrock_invocation",),
                      ("nw-br-sonnet", "nw-br-llama"), 3.0, subgroups=(("underwriting", 0.4, ("nw-gw-underwriting",)),),
                      console_share=0.15, sso_role="AWSReservedSSO_Actuarial_2c4e6a8b0d1f3e5a"),
    "claims": Team(("new_york", "toronto"), ("adjuster", "claims-analyst"), ("claims",),
                   ("azure_openai", "litellm_spend"), ("nw-az-4o", "nw-az-claims", "nw-gw-mini"), 3.0,
                   subgroups=(("claims-leads", 0.3, ("nw-gw-claims",)),), console_share=0.15),
    "clinical-review": Team(("new_york", "sao_paulo"), ("clinician",), ("clinical-review",), ("bedrock_invocation",),
                            ("nw-br-nova", "nw-br-haiku"), 2.5, subgroups=(("phi-reviewers", 0.5, ("nw-br-phi",)),),
                            console_share=0.1, sso_role="AWSReservedSSO_ClinicalReview_7d9f1b3c5e7a9c1e"),
    "member-services": Team(("sao_paulo", "sydney"), ("agent",), ("member-services",), ("litellm_spend",),
                            ("nw-gw-mini", "nw-gw-41"), 4.0, console_share=0.1),
    "security": Team(("new_york", "sydney"), ("platform-admin",), ("security", "platform"),
                     ("litellm_spend", "openai_audit"), ("nw-gw-mini", "nw-gw-41"), 1.5),
}

NW_MODELS: tuple[Deployment, ...] = (
    _model("nw-br-haiku", "Claude 3.5 Haiku on Bedrock", "public", "cloud-platform", "prod", (), "bedrock_invocation",
           "anthropic.claude-3-5-haiku-20241022-v1:0"),
    _model("nw-br-sonnet", "Claude 3.7 Sonnet on Bedrock", "internal", "cloud-platform", "prod",
           ("app-dev", "data-platform", "actuarial", "research", "clinical-review", "security"), "bedrock_invocation",
           "anthropic.claude-3-7-sonnet-20250219-v1:0"),
    _model("nw-br-nova", "Amazon Nova Pro on Bedrock", "internal", "cloud-platform", "prod",
           ("member-services", "claims", "clinical-review"), "bedrock_invocation", "amazon.nova-pro-v1:0"),
    _model("nw-br-llama", "Llama 3.1 405B on Bedrock (pricing models)", "confidential", "actuarial", "prod",
           ("actuarial", "data-platform"), "bedrock_invocation", "meta.llama3-1-405b-instruct-v1:0"),
    _model("nw-br-phi", "Claude 3 Opus on Bedrock (PHI review workspace)", "restricted", "clinical-review", "prod",
           ("phi-reviewers",), "bedrock_invocation", "anthropic.claude-3-opus-20240229-v1:0"),
    _model("nw-gw-mini", "GPT-4o mini via the gateway", "public", "cloud-platform", "prod", (), "litellm_spend",
           "gpt-4o-mini"),
    _model("nw-gw-41", "GPT-4.1 via the gateway", "internal", "cloud-platform", "prod",
           ("app-dev", "data-platform", "research", "claims", "member-services", "security"), "litellm_spend",
           "gpt-4.1"),
    _model("nw-gw-o3", "o3 reasoning via the gateway", "confidential", "research", "prod",
           ("research", "data-platform"), "litellm_spend", "o3"),
    _model("nw-gw-claims", "Fine-tuned claims triage", "restricted", "claims", "prod", ("claims-leads",),
           "litellm_spend", "ft:gpt-4o-mini-2024-07-18:northwind:claims-triage:D4f1"),
    _model("nw-gw-underwriting", "Fine-tuned underwriting assistant", "restricted", "actuarial", "prod",
           ("underwriting",), "litellm_spend", "ft:gpt-4.1-2025-04-14:northwind:underwriting:E9q3"),
    _model("nw-az-4o", "GPT-4o on Azure (claims)", "internal", "claims", "prod", ("claims",), "azure_openai",
           "claims-gpt4o", "gpt-4o"),
    _model("nw-az-claims", "Claims letters assistant (fine-tuned)", "confidential", "claims", "prod", ("claims",),
           "azure_openai", "claims-letters-ft", "gpt-4o-2024-08-06.ft-9e8d7c6b5a4f3e2d"),
)

NW_SERVICES = (
    ServiceSpec("svc-claims-nightly", "data-platform", "bedrock_invocation", "nw-br-sonnet",
                Job("nightly", 2, "America/New_York", 150, minutes=40, rotating_session=True), "new_york"),
    ServiceSpec("svc-risk-scorer", "actuarial", "bedrock_invocation", "nw-br-llama",
                Job("hourly", 0, "America/Toronto", 6, minutes=10, rotating_session=True), "toronto"),
    ServiceSpec("svc-member-digest", "member-services", "litellm_spend", "nw-gw-41",
                Job("nightly", 1, "Australia/Sydney", 50, minutes=50, input_scale=0.6, output_scale=8.0), "sydney"),
    ServiceSpec("svc-dp-shared", "data-platform", "litellm_spend", "nw-gw-o3",
                Job("business", 9, "Australia/Sydney", 8, end_hour=18), "sydney", migrate_keys=8),
    ServiceSpec("svc-ticket-router", "member-services", "litellm_spend", "nw-gw-mini",
                Job("business", 8, "America/Sao_Paulo", 20, end_hour=20), "sao_paulo"),
    ServiceSpec("svc-etl-embed", "data-platform", "bedrock_invocation", "nw-br-haiku",
                Job("nightly", 3, "Asia/Tokyo", 200, minutes=60, rotating_session=True), "tokyo"),
    ServiceSpec("svc-eval-harness", "research", "litellm_spend", "nw-gw-o3",
                Job("business", 10, "Asia/Tokyo", 40, end_hour=11), "tokyo"),
    ServiceSpec("svc-claims-ocr", "claims", "azure_openai", "nw-az-4o", Job("nightly", 4, "America/New_York", 60),
                "new_york"),
    ServiceSpec("svc-fraud-screen", "claims", "litellm_spend", "nw-gw-41", Job("hourly", 0, "America/New_York", 4),
                "new_york"),
    ServiceSpec("svc-clinical-summaries", "clinical-review", "bedrock_invocation", "nw-br-nova",
                Job("nightly", 23, "America/New_York", 40, minutes=45, output_scale=6.0, rotating_session=True),
                "new_york"),
)

NORTHWIND = OrgProfile(
    name="northwind", description="Northwind Health: 8 teams in Tokyo, Sydney, New York, Toronto and Sao Paulo; "
    "Bedrock through SSO and service roles, a LiteLLM gateway with team keys, Azure OpenAI for claims",
    domain="northwind-health.example", aws_account="731294508216",
    azure_resource=("/SUBSCRIPTIONS/0C1D2E3F-4A5B-4C6D-8E7F-9A0B1C2D3E4F/RESOURCEGROUPS/RG-CLAIMS-AI/PROVIDERS/"
                    "MICROSOFT.COGNITIVESERVICES/ACCOUNTS/NW-CLAIMS-OPENAI"),
    azure_region="eastus", openai_project=("proj_nwH8s2Kd91Qa", "northwind-research"),
    sites=NW_SITES, foreign=NW_FOREIGN, teams=NW_TEAMS,
    team_weights={"app-dev": 12, "data-platform": 5, "research": 4, "actuarial": 4, "claims": 6, "clinical-review": 4,
                  "member-services": 5, "security": 2},
    models=NW_MODELS, services=NW_SERVICES, identities_per_service=7,
    attack_sites=("lagos", "bucharest", "almaty", "frankfurt_vps"), trip_sites=("london", "singapore"),
    grant=("research", "nw-gw-underwriting"), admins="security", campaign_team="member-services",
    recurring_travel_share=0.6,
)

PROFILES: dict[str, OrgProfile] = {p.name: p for p in (ACME, NORTHWIND)}
DEFAULT_PROFILE = ACME
