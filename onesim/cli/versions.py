"""Versions the simulated CLIs report: the OpenNebula release and the DB schema it expects."""

from __future__ import annotations

#: The only place the fallback lives: used when ``onesim.schema`` is not importable.
_FALLBACK_VERSION = "7.0.0"

try:  # the daemon's schema module owns the constants (shared with oned)
    from onesim import schema as _schema
except ImportError:  # pragma: no cover - only before the daemon package exists
    _schema = None

COPYRIGHT = "Copyright 2002-2025, OpenNebula Project, OpenNebula Systems"


def required_shared_version() -> str:
    """Shared-table schema version this release requires (``LATEST_DB_VERSION``)."""
    return getattr(_schema, "SHARED_VERSION", _FALLBACK_VERSION)


def required_local_version() -> str:
    """Local-table schema version this release requires (``LATEST_LOCAL_DB_VERSION``)."""
    return getattr(_schema, "LOCAL_VERSION", _FALLBACK_VERSION)


def opennebula_version() -> str:
    """The OpenNebula release the tools claim to be (``OpenNebula::VERSION``)."""
    return getattr(_schema, "ONE_VERSION", required_shared_version())


def version_banner() -> str:
    """``-V`` text of the OpenNebula CLIs (``OpenNebulaHelper::ONE_VERSION``)."""
    return f"OpenNebula {opennebula_version()}\n{COPYRIGHT}\n"


def _segments(version: str) -> list:
    """Split like ``Gem::Version``: numbers compare numerically, letters mark a pre-release."""
    import re

    parts = re.findall(r"[0-9]+|[a-zA-Z]+", str(version).strip() or "0")
    segments: list = [int(p) if p.isdigit() else p for p in parts]
    while len(segments) > 1 and segments[-1] == 0:  # "7.0" == "7.0.0"
        segments.pop()
    return segments


def compare_versions(left: str, right: str) -> int:
    """-1, 0 or 1 as ``Gem::Version.new(left) <=> Gem::Version.new(right)``."""
    a, b = _segments(left), _segments(right)
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else 0
        y = b[i] if i < len(b) else 0
        if x == y:
            continue
        # A string segment is a pre-release: it sorts before any number.
        if isinstance(x, str) and not isinstance(y, str):
            return -1
        if isinstance(y, str) and not isinstance(x, str):
            return 1
        return -1 if x < y else 1
    return 0
