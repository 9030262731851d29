"""Helpers of the fencing agent's e2e tests."""

from __future__ import annotations

import yaml

from onelab.trials import REPO_ROOT


def fence_setting(pillar: dict, key: str):
    """``onenebula_ha:fence:<key>`` of ``pillar``, else the formula's default."""
    configured = pillar["onenebula_ha"].get("fence") or {}
    if key in configured:
        return configured[key]
    defaults = yaml.safe_load((REPO_ROOT / "onenebula_ha" / "defaults.yaml").read_text())
    return (defaults.get("onenebula_ha") or defaults)["fence"][key]
