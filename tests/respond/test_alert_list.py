"""`siem-pack alerts list`: a queue of episodes ranked by episode risk score (the rule's risk
score raised by the model's tier, other rules on the identity and its anomaly score), shown
with the score; `--sort time` gives newest first."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from siem_pack.backends.duckdb import Store
from siem_pack.cli import main
from siem_pack.detect.alerts import make_alert, write_duckdb

from .conftest import MODEL, RULES, T0


def _queue(db: Path) -> list[dict[str, Any]]:
    low = make_alert(RULES["new_user_model_pair"], T0 + timedelta(hours=3), {"user.id": "u-new"}, ["x1"],
                     T0 + timedelta(hours=3), {"gen_ai.request.model": "bge-large"})  # low 21, public: newest
    secret = make_alert(RULES["secret_in_prompt"], T0, {}, ["x2"], T0,
                        {"user.id": "jdoe", "gen_ai.request.model": MODEL})  # high 73, restricted in the inventory
    anomaly = make_alert(RULES["anomalous_usage_window"], T0 + timedelta(hours=1), {}, ["x3"], T0 + timedelta(hours=1),
                         {"user.id": "u-odd", "gen_ai.request.model": "bge-large", "siem_pack.model.tier": "public",
                          "siem_pack.anomaly.risk_score": 99.0})  # medium 47, anomaly 99
    with Store(db) as store:
        write_duckdb(store, [low, secret, anomaly])
    return [secret, anomaly, low]


def test_alerts_list_ranks_episodes_by_risk(db_path: Path) -> None:
    secret, anomaly, low = _queue(db_path)
    r = CliRunner()
    res = r.invoke(main, ["alerts", "list", "--db", str(db_path), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [(x["kibana.alert.uuid"], x["siem_pack.episode.risk_score"]) for x in rows] == [
        (secret["kibana.alert.uuid"], 93), (anomaly["kibana.alert.uuid"], 56), (low["kibana.alert.uuid"], 21)]
    assert rows[0]["siem_pack.episode.risk_factors"] == {"rule": 73, "tier": 20}
    assert rows[0]["kibana.alert.suppression.docs_count"] == 0
    text = r.invoke(main, ["alerts", "list", "--db", str(db_path)]).output.splitlines()
    assert text[0].startswith(f" 93  {secret['kibana.alert.uuid']}  ")
    assert text[-1] == "3 alert(s), by episode risk"
    by_time = json.loads(r.invoke(main, ["alerts", "list", "--db", str(db_path), "--sort", "time", "--json"]).output)
    assert [x["kibana.alert.uuid"] for x in by_time] == [low["kibana.alert.uuid"], anomaly["kibana.alert.uuid"],
                                                        secret["kibana.alert.uuid"]]


def test_alerts_list_bad_sort(db_path: Path) -> None:
    res = CliRunner().invoke(main, ["alerts", "list", "--db", str(db_path), "--sort", "size"])
    assert res.exit_code == 2
    assert "Invalid value for '--sort': 'size' is not one of 'risk', 'time'." in res.output
