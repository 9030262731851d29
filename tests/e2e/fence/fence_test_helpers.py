"""Helpers of the fencing agent's e2e tests."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]


def fence_in_formula() -> str | None:
    """Why the formula cannot deploy the fencing agent yet (None when it can)."""
    defaults = yaml.safe_load((REPO_ROOT / "onenebula_ha" / "defaults.yaml").read_text())
    if "fence" not in (defaults.get("onenebula_ha") or defaults):
        return (
            "the formula has no fencing agent yet (issue 9: no onenebula_ha:fence in defaults.yaml)"
        )
    if not (REPO_ROOT / "onenebula_ha" / "fence" / "init.sls").exists():
        return "the formula has no fencing agent yet (issue 9: no onenebula_ha/fence/init.sls)"
    return None


def fence_setting(pillar: dict, key: str):
    """``onenebula_ha:fence:<key>`` of ``pillar``, else the formula's default."""
    configured = pillar["onenebula_ha"].get("fence") or {}
    if key in configured:
        return configured[key]
    defaults = yaml.safe_load((REPO_ROOT / "onenebula_ha" / "defaults.yaml").read_text())
    return (defaults.get("onenebula_ha") or defaults)["fence"][key]
