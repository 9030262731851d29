"""Bringing the 5-front-end lab up: time until every minion is accepted, and its memory.

``run()`` brings up 5 front-ends, the Salt master and the client with plain daemons (exactly
what ``onelab up 5`` does), measures, and tears the lab down again. Goals: up in < 60 s and
< 3 GB resident memory. RSS counts pages shared between processes once per process (the
figure the goal is about); PSS splits them and is closer to what the lab really costs.
"""

from __future__ import annotations

import time
from collections import defaultdict

from bench._support import main
from onelab import proc
from onelab.lab import Lab
from onelab.salt_plain import PlainSalt

LOCK_WAIT = 600
# Programs (as the lab's process matcher sees them) grouped for the memory breakdown.
GROUPS = {"mariadbd": "mariadb", "mysqld_safe": "mariadb", "salt-master": "salt-master"}
GROUPS |= {"salt-minion": "salt-minion", "hostinit.py": "host-init"}


def _group(pid: int) -> str:
    argv = proc.cmdline(pid)
    for word in argv[:5]:
        name = word.rsplit("/", 1)[-1]
        if name in GROUPS:
            return GROUPS[name]
    return "other"


def memory(lab: Lab) -> dict:
    """RSS and PSS of every lab process, in MB, total and per group."""
    rss: dict[str, int] = defaultdict(int)
    pss: dict[str, int] = defaultdict(int)
    for host in lab.hosts:
        for pid in host.pids():
            group = _group(pid)
            rss[group] += proc.rss_bytes(pid)
            pss[group] += proc.pss_bytes(pid)
    mb = 2**20
    return {
        "rss_mb": round(sum(rss.values()) / mb),
        "pss_mb": round(sum(pss.values()) / mb),
        "rss_mb_by_group": {group: round(value / mb) for group, value in sorted(rss.items())},
        "pss_mb_by_group": {group: round(value / mb) for group, value in sorted(pss.items())},
    }


def run(size: int = 5) -> dict:
    lab = Lab(size, salt=PlainSalt())
    try:
        timings = lab.up(wait=LOCK_WAIT)
        result = {
            "front_ends": size,
            # From the moment the lab had the machine (lock_wait excluded).
            "up_s": round(timings["total"], 1),
            "phases_s": {name: round(value, 1) for name, value in timings.items()},
            "minions_answering": sorted(lab.salt.responding([h.name for h in lab.frontends])),
            **memory(lab),
        }
    finally:
        down_started = time.monotonic()
        lab.down()
    result["down_s"] = round(time.monotonic() - down_started, 1)
    result["goals_met"] = result["up_s"] < 60 and result["rss_mb"] < 3 * 1024
    return result


if __name__ == "__main__":
    main("lab_up", run, __doc__)
