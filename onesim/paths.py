"""Where a front-end keeps its files: the system-wide layout or a self-contained ONE_LOCATION.

System-wide (packages)              Self-contained (``ONE_LOCATION=L``)
/etc/one/oned.conf                  L/etc/oned.conf
/var/lib/one                        L/var
/var/lib/one/one.db                 L/var/one.db
/var/lib/one/config                 L/var/config
/var/log/one/oned.log               L/var/oned.log
/var/lock/one/one                   L/var/.lock
/var/lib/one/remotes/               L/var/remotes/
/var/lib/one/.one/one_auth          L/var/.one/one_auth   (``$ONE_AUTH`` wins in both)

``onedb`` (the CLI) uses the same lock-file locations to refuse a restore while oned runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Paths"]


@dataclass(frozen=True)
class Paths:
    """Resolved file locations of one front-end."""

    location: Path | None
    etc: Path
    var: Path
    oned_conf: Path
    monitord_conf: Path
    sqlite_db: Path
    config_dump: Path
    log_dir: Path
    oned_log: Path
    lock_file: Path
    vip_lock: Path
    one_auth: Path
    #: Kept as a string with its trailing slash: oned concatenates ``<remotes>/hooks/<cmd>``
    #: literally, which is why real logs show ``/var/lib/one/remotes//hooks/raft/vip.sh``.
    remotes: str

    @property
    def self_contained(self) -> bool:
        return self.location is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        """Resolve the layout from ``ONE_LOCATION`` / ``ONE_AUTH`` in ``env`` (default: os.environ)."""
        env = os.environ if env is None else env
        location = env.get("ONE_LOCATION") or None
        paths = cls.system_wide() if location is None else cls.self_contained_at(Path(location))
        one_auth = env.get("ONE_AUTH")
        if one_auth:
            paths = replace(paths, one_auth=Path(one_auth))
        return paths

    @classmethod
    def system_wide(cls) -> Paths:
        var = Path("/var/lib/one")
        return cls(
            location=None,
            etc=Path("/etc/one"),
            var=var,
            oned_conf=Path("/etc/one/oned.conf"),
            monitord_conf=Path("/etc/one/monitord.conf"),
            sqlite_db=var / "one.db",
            config_dump=var / "config",
            log_dir=Path("/var/log/one"),
            oned_log=Path("/var/log/one/oned.log"),
            lock_file=Path("/var/lock/one/one"),
            vip_lock=Path("/var/lock/one/vip_sh"),
            one_auth=var / ".one" / "one_auth",
            remotes="/var/lib/one/remotes/",
        )

    @classmethod
    def self_contained_at(cls, location: Path) -> Paths:
        location = Path(location)
        var = location / "var"
        return cls(
            location=location,
            etc=location / "etc",
            var=var,
            oned_conf=location / "etc" / "oned.conf",
            monitord_conf=location / "etc" / "monitord.conf",
            sqlite_db=var / "one.db",
            config_dump=var / "config",
            log_dir=var,
            oned_log=var / "oned.log",
            lock_file=var / ".lock",
            vip_lock=var / "lock" / "vip_sh",
            one_auth=var / ".one" / "one_auth",
            remotes=f"{var}/remotes/",
        )
