"""Shared fixtures for the drill tests: one small simulation per session."""

from __future__ import annotations

import pytest

from siem_pack.simulate import SimulationResult, simulate

SMALL = {"days": 6, "identities": 16, "seed": 11}


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    """A small simulated organisation (16 identities x 6 days, every scenario)."""
    return simulate(tmp_path_factory.mktemp("sim") / "small", **SMALL)  # type: ignore[arg-type]
