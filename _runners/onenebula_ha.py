"""
Master-side view of an OpenNebula HA zone managed by the onenebula_ha formula.

The front-ends are the ``onenebula_ha:servers`` of the pillar the master's own minion
(``<id>_master``, the one orchestrations render with) sees, unless ``servers`` is passed.
Every front-end is asked in parallel, through its minion, for its own Raft status
(``onenebula_zone.raft_status``), the ``SERVER_ID`` in its ``oned.conf`` and whether it
holds the VIP; the leader is asked for the zone (``onenebula_zone.show``).

* :func:`view` — the data the orchestrations decide on at render time (leader, bare
  cluster, members and their health);
* :func:`leader` — the current leader's minion id (the first server on a bare cluster);
* :func:`status` — zone table, VIP holder(s), per-node health and what is wrong, as data
  plus a readable table.

The master needs the formula's modules (``salt-run saltutil.sync_all``) and its minion
``<id>_master`` must see the ``onenebula_ha`` pillar.
"""

import logging
import time

import salt.client
import salt.loader
import salt.pillar
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_ha"

DEFAULT_PORT = 2633
DEFAULT_MAX_LAG = 100
HEALTHY_STATES = ("leader", "follower")
STATE_NAMES = {0: "solo", 1: "candidate", 2: "follower", 3: "leader"}


def __virtual__():
    return __virtualname__


# ------------------------------------------------------------------ settings


def _master_pillar():
    """The pillar of the master's own minion, as orchestrations render with it."""
    grains = salt.loader.grains(__opts__)
    pillar = salt.pillar.get_pillar(
        __opts__, grains, __opts__["id"], saltenv=__opts__.get("saltenv") or "base"
    )
    return pillar.compile_pillar()


def _settings(servers=None):
    """``(servers, settings)``: the front-ends (with endpoints) and the pillar section."""
    settings = {}
    if servers is None:
        settings = _master_pillar().get("onenebula_ha") or {}
        servers = settings.get("servers") or []
    if not servers:
        raise SaltInvocationError(
            f"no onenebula_ha:servers in the pillar of the master's minion {__opts__['id']}: "
            "assign the onenebula_ha pillar to it as well, or pass servers=[...]"
        )
    port = (settings.get("oned") or {}).get("port", DEFAULT_PORT)
    normalised = []
    for server in servers:
        server = dict(server)
        if not server.get("endpoint") and server.get("address"):
            server["endpoint"] = f"http://{server['address']}:{port}/RPC2"
        normalised.append(server)
    return normalised, settings


# ------------------------------------------------------------------ minion calls


def _call(minions, fun, arg=(), kwarg=None, timeout=10):
    """Run ``fun`` on ``minions`` in parallel: ``{minion: {"ok", "ret" | "error"}}``."""
    client = salt.client.get_local_client(mopts=__opts__)
    try:
        returns = client.cmd(
            list(minions),
            fun,
            arg=list(arg),
            kwarg=kwarg or {},
            tgt_type="list",
            timeout=timeout,
            full_return=True,
        )
    finally:
        client.destroy()
    results = {}
    for minion in minions:
        entry = returns.get(minion)
        if not isinstance(entry, dict) or "ret" not in entry:
            results[minion] = {"ok": False, "error": "minion did not answer"}
            continue
        value = entry["ret"]
        failed = entry.get("retcode", 0) != 0 or (
            isinstance(value, str) and value.startswith(("ERROR", "'", "Passed invalid"))
        )
        if failed:
            results[minion] = {"ok": False, "error": str(value).strip()}
        else:
            results[minion] = {"ok": True, "ret": value}
    return results


def _int_or_none(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ view


def _server_view(server, raft, conf_id, zone_servers, leader_raft, max_lag):
    """One front-end's facts and problems."""
    entry = {
        "minion": server["minion"],
        "name": server["name"],
        "id": server["id"],
        "endpoint": server.get("endpoint"),
        "answered": raft["ok"] or raft.get("error") != "minion did not answer",
        "oned": raft["ok"],
        "state": "down",
        "term": None,
        "log_index": None,
        "commit": None,
        "server_id": None,
        "configured_id": conf_id,
        "member": False,
        "zone_id": None,
        "zone_state": None,
        "healthy": False,
        "problems": [],
    }
    problems = entry["problems"]
    if raft["ok"]:
        status = raft["ret"]
        entry.update(
            state=STATE_NAMES.get(status.get("state"), "error"),
            term=status.get("term"),
            log_index=status.get("log_index"),
            commit=status.get("commit"),
            server_id=status.get("server_id"),
        )
    elif raft.get("error") == "minion did not answer":
        problems.append("its Salt minion does not answer")
    else:
        problems.append(f"oned does not answer: {raft.get('error')}")

    matches = [s for s in zone_servers if s["name"] == server["name"]]
    if matches:
        entry["member"] = True
        entry["zone_id"] = matches[0]["id"]
        entry["zone_state"] = matches[0]["state"]
        if len(matches) > 1:
            problems.append(f"listed {len(matches)} times in the zone")
        if matches[0]["id"] != server["id"]:
            problems.append(f"zone ID {matches[0]['id']} differs from the pillar id {server['id']}")
    elif zone_servers:
        problems.append("not a member of the zone")

    if entry["member"] and conf_id is not None and conf_id != entry["zone_id"]:
        problems.append(
            f"oned.conf SERVER_ID {conf_id} differs from its zone ID {entry['zone_id']}"
        )
    if raft["ok"] and entry["state"] not in HEALTHY_STATES:
        problems.append(f"Raft state {entry['state']}")
    if (
        entry["state"] == "follower"
        and leader_raft
        and entry["log_index"] is not None
        and leader_raft.get("log_index") is not None
    ):
        lag = leader_raft["log_index"] - entry["log_index"]
        if lag > max_lag:
            problems.append(f"{lag} log records behind the leader (limit {max_lag})")
    if entry["member"] and entry["zone_state"] not in HEALTHY_STATES and raft["ok"]:
        problems.append(f"the leader sees it in state {entry['zone_state']}")
    entry["healthy"] = entry["member"] and raft["ok"] and not problems
    return entry


def view(servers=None, zone=0, timeout=10, max_lag=DEFAULT_MAX_LAG):
    """
    Return what the orchestrations decide on: ``{"leader": <minion or None>, "bare":
    bool, "configured": [minions whose oned.conf has a SERVER_ID >= 0], "zone": <zone
    as the leader sees it or None>, "servers": {minion: {...facts, "healthy",
    "problems"}}, "problems": [...]}``.

    ``bare`` means no front-end has been configured as a zone member yet (every
    ``oned.conf`` still has ``SERVER_ID -1``, or only the first server has started its
    bootstrap): the deploy bootstraps the first server.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.view
    """
    servers, _ = _settings(servers)
    minions = [s["minion"] for s in servers]
    raft = _call(minions, "onenebula_zone.raft_status", timeout=timeout)
    conf = _call(minions, "onenebula_conf.get", ["FEDERATION/SERVER_ID"], timeout=timeout)
    conf_ids = {m: _int_or_none(conf[m].get("ret")) if conf[m]["ok"] else None for m in minions}

    leaders = [m for m in minions if raft[m]["ok"] and raft[m]["ret"].get("state") == 3]
    leader = max(leaders, key=lambda m: raft[m]["ret"].get("term") or -1) if leaders else None
    problems = []
    if len(leaders) > 1:
        problems.append(f"{len(leaders)} servers report state leader: {', '.join(leaders)}")

    zone_doc = None
    if leader:
        shown = _call([leader], "onenebula_zone.show", [zone], {"refresh": True}, timeout)
        if shown[leader]["ok"]:
            zone_doc = shown[leader]["ret"]
        else:
            problems.append(f"cannot read zone {zone} on {leader}: {shown[leader]['error']}")
    zone_servers = (zone_doc or {}).get("servers") or []

    leader_raft = raft[leader]["ret"] if leader else None
    by_minion = {
        s["minion"]: _server_view(
            s, raft[s["minion"]], conf_ids[s["minion"]], zone_servers, leader_raft, max_lag
        )
        for s in servers
    }
    configured = [m for m in minions if conf_ids[m] is not None and conf_ids[m] >= 0]
    in_ha = [m for m in minions if raft[m]["ok"] and raft[m]["ret"].get("state") in (1, 2, 3)]
    bare = not in_ha and set(configured) <= {minions[0]}
    if not leader and not bare:
        problems.append(
            "no leader: the zone has configured members ("
            + ", ".join(configured or in_ha)
            + ") but none reports state leader"
        )
    pillar_names = {s["name"] for s in servers}
    for extra in zone_servers:
        if extra["name"] not in pillar_names:
            problems.append(
                f"zone server {extra['id']} ({extra['name']}) is not in onenebula_ha:servers"
            )
    return {
        "leader": leader,
        "bare": bare,
        "configured": configured,
        "zone": zone_doc,
        "servers": by_minion,
        "problems": problems,
    }


def leader(servers=None, zone=0, wait=30, interval=2):
    """
    Return the minion id of the current Raft leader; on a bare cluster (see
    :func:`view`) the first server, which the deploy bootstraps. Waits up to ``wait``
    seconds for an election in progress; raises when the zone still has no leader.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.leader
    """
    servers, _ = _settings(servers)
    deadline = time.monotonic() + float(wait)
    while True:
        current = view(servers=servers, zone=zone)
        if current["leader"]:
            return current["leader"]
        if current["bare"]:
            return servers[0]["minion"]
        if time.monotonic() >= deadline:
            raise CommandExecutionError(
                f"zone {zone} has no leader after {wait}s: " + "; ".join(current["problems"])
            )
        time.sleep(interval)


# ------------------------------------------------------------------ status


def _vip_holders(minions, vip, timeout):
    if not vip or not vip.get("enabled", True) or not vip.get("address"):
        return None, {}
    address = str(vip["address"]).split("/")[0]
    found = _call(minions, "network.ip_addrs", [], {"interface": vip.get("interface")}, timeout)
    holders = {
        m: address in (found[m].get("ret") or []) if found[m]["ok"] else None for m in minions
    }
    return address, holders


def _cell(value):
    return "-" if value is None else str(value)


def _table(rows, columns):
    widths = [max(len(title), *(len(_cell(row[key])) for row in rows)) for title, key in columns]
    lines = [
        "  ".join(title.ljust(width) for (title, _), width in zip(columns, widths, strict=True))
    ]
    for row in rows:
        lines.append(
            "  ".join(
                _cell(row[key]).ljust(width)
                for (_, key), width in zip(columns, widths, strict=True)
            )
        )
    return "\n".join(line.rstrip() for line in lines)


def status(servers=None, zone=0, timeout=10, max_lag=DEFAULT_MAX_LAG, fmt="data"):
    """
    Report the zone: every front-end's Raft role, term and log position as it reports
    them itself, its membership as the leader sees it, who holds the VIP (each front-end
    is asked whether the VIP is on its interface), and per node what is wrong.

    Returns ``{"healthy", "leader", "vip": {"address", "holders"}, "servers": {...},
    "problems": [...], "table": "<text>"}``; ``fmt=table`` returns only the table.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.status
        salt-run onenebula_ha.status fmt=table
    """
    servers, settings = _settings(servers)
    current = view(servers=servers, zone=zone, timeout=timeout, max_lag=max_lag)
    minions = [s["minion"] for s in servers]
    address, holders = _vip_holders(minions, settings.get("vip"), timeout)
    problems = list(current["problems"])
    rows = []
    for minion in minions:
        entry = current["servers"][minion]
        holds = holders.get(minion)
        entry["vip"] = holds
        if address:
            if entry["state"] == "leader" and holds is False:
                entry["problems"].append(f"leader without the VIP {address}")
            if entry["state"] != "leader" and holds:
                entry["problems"].append(f"holds the VIP {address} but is not the leader")
            entry["healthy"] = entry["healthy"] and not entry["problems"]
        for problem in entry["problems"]:
            problems.append(f"{minion}: {problem}")
        rows.append(
            dict(
                entry,
                vip_cell="yes" if holds else ("?" if holds is None and address else "-"),
                health="ok" if entry["healthy"] else "; ".join(entry["problems"]) or "not member",
            )
        )
    if address and not any(holders.values()):
        problems.append(f"nobody holds the VIP {address}")
    columns = [
        ("MINION", "minion"),
        ("NAME", "name"),
        ("ID", "id"),
        ("ROLE", "state"),
        ("TERM", "term"),
        ("INDEX", "log_index"),
        ("COMMIT", "commit"),
        ("VIP", "vip_cell"),
        ("HEALTH", "health"),
    ]
    header = f"zone {zone}: leader {current['leader'] or '-'}"
    if address:
        vip_on = [m for m, held in holders.items() if held]
        header += f", VIP {address} on {', '.join(vip_on) or 'nobody'}"
    table = header + "\n" + _table(rows, columns)
    if problems:
        table += "\nproblems:\n" + "\n".join(f"  - {p}" for p in problems)
    if fmt == "table":
        return table
    return {
        "healthy": not problems and all(e["healthy"] for e in current["servers"].values()),
        "leader": current["leader"],
        "vip": {"address": address, "holders": [m for m, held in holders.items() if held]},
        "servers": current["servers"],
        "problems": problems,
        "table": table,
    }
