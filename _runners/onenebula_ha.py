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
  plus a readable table;
* the planners, which hold every decision the orchestrations and reactions take (their SLS
  files only loop over what a planner returns): :func:`plan` (the ordered steps of
  ``orch.deploy``/``add``/``remove``/``repair``/``rolling_restart``), :func:`vip_plan`
  (``orch.remediate_vip``), :func:`role_reaction` and :func:`error_reaction` (the reactor:
  triggers only), :func:`repair_claim`, :func:`repair_check` and :func:`repair_release` (the
  repair lock). Each wraps a pure function (``_plan_<action>``, ``_vip_decision``,
  ``_role_decision``, ``_error_decision``, ``_repair_decision``, ``_majority_leader``) that
  takes the facts and returns the decision, tested as plain Python.

The master needs the formula's modules (``salt-run saltutil.sync_all``) and its minion
``<id>_master`` must see the ``onenebula_ha`` pillar.
"""

import fcntl
import json
import logging
import os
import secrets
import time

import salt.client
import salt.loader
import salt.pillar
from salt.exceptions import CommandExecutionError, SaltException, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_ha"

DEFAULT_PORT = 2633


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
    # From the master's config file, as saltutil.cmd does: when this runner is called from
    # an orchestration (saltutil.runner), __opts__ are the orchestration's minion-style opts.
    conf_file = __opts__.get("conf_file")
    if conf_file and os.path.isfile(conf_file):
        client = salt.client.get_local_client(conf_file)
    else:
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
            state=__utils__["onenebula_ha.state_name"](status.get("state")),
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
    healthy_states = __utils__["onenebula_ha.healthy_states"]()
    if raft["ok"] and entry["state"] not in healthy_states:
        problems.append(f"Raft state {entry['state']}")
    if entry["state"] == "follower" and leader_raft:
        behind = __utils__["onenebula_ha.lag_problem"](
            entry["log_index"], leader_raft.get("log_index"), max_lag
        )
        if behind:
            problems.append(behind)
    if entry["member"] and entry["zone_state"] not in healthy_states and raft["ok"]:
        problems.append(f"the leader sees it in state {entry['zone_state']}")
    entry["healthy"] = entry["member"] and raft["ok"] and not problems
    return entry


def view(servers=None, zone=0, timeout=10, max_lag=None):
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
    max_lag = __utils__["onenebula_ha.max_lag"](max_lag, __opts__.get("onenebula_ha.max_lag"))
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


def status(servers=None, zone=0, timeout=10, max_lag=None, fmt="data"):
    """
    Report the zone: every front-end's Raft role, term and log position as it reports
    them itself, its membership as the leader sees it, who holds the VIP (each front-end
    is asked whether the VIP is on its interface), whether its database is damaged
    (``onenebula_db.health``: missing, or lacking a table the leader's has), and per node
    what is wrong.

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
    databases = _call(minions, "onenebula_db.health", timeout=timeout)
    problems = list(current["problems"])
    rows = []
    for minion in minions:
        entry = current["servers"][minion]
        damage = _database_damage(minion, current["leader"], databases)
        if damage:
            entry["problems"].append(damage)
            entry["healthy"] = False
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


# ------------------------------------------------------------------ planners
#
# A planner returns {"action", "steps": [...], "notes": [...], "error": str | None}. A step is
# {"id", "label", "tgt": [minions], "sls", "run": <pillar onenebula_ha_run>, "require": [...]}:
# one salt.state call of a formula SLS, requiring the step before it, so a failure stops
# everything after it (one change at a time is also guarded inside the states, not by
# batching: https://github.com/saltstack/salt/issues/54521).

FORMULA = "onenebula_ha"
ACTIONS = ("deploy", "add", "remove", "repair", "rolling_restart")
REPAIR_LOCK = "onenebula_ha_repair_lock"
DEFAULT_WAIT_TIMEOUT = 600
# A step that waits up to the run's timeout also renders the state tree and queries the
# zone before and after its wait: its job is given that much more.
STEP_JOB_MARGIN = 60


class _Plan:
    """Steps chained one after the other, notes, or an error."""

    def __init__(self, action):
        self.action = action
        self.prefix = f"{FORMULA}-orch-{action}-"
        self.steps = []
        self.notes = []
        self.error = None
        self.last = None

    def step(self, name, label, tgt, sls, run, after="previous", also=(), parallel=False,
             onfail=None, job_timeout=None):  # fmt: skip
        """Add a step; ``after``: the id it requires ("previous": the last step, None: none);
        ``also``: more ids it requires. ``sls``: one SLS below the formula ("" for the formula
        itself) or a tuple of them, applied in one state run that stops at the first failure
        (failhard). ``parallel``: the orchestration goes on while it runs (the chain stays on
        the step before it; a later step must name it in ``also``). ``onfail``: step ids of
        which any failing runs it (instead of requiring one; it is then no link of the
        chain). ``job_timeout``: seconds the master waits for the state run's return before
        it first asks whether the job still runs (salt.state's ``timeout``); without it the
        master's ``timeout`` applies."""
        step_id = self.prefix + name
        require = self.last if after == "previous" else after
        names = (sls,) if isinstance(sls, str) else tuple(sls)
        entry = {
            "id": step_id,
            "label": label,
            "tgt": [tgt] if isinstance(tgt, str) else list(tgt),
            "sls": ",".join(f"{FORMULA}.{n}" if n else FORMULA for n in names),
            "run": dict(run),
            "require": []
            if onfail
            else [{"salt": r} for r in ([require] if require else []) + list(also)],
            "failhard": len(names) > 1,
            "parallel": bool(parallel),
        }
        if onfail:
            entry["onfail"] = [{"salt": i} for i in onfail]
        if job_timeout:
            entry["job_timeout"] = int(job_timeout)
        self.steps.append(entry)
        if not onfail and not parallel:
            self.last = step_id
        return step_id

    def runner(self, name, label, fun, kwarg, after="previous", onfail=None):
        """Add a ``salt.runner`` step (a check or the lock's release on the master);
        ``onfail``: step ids of which any failing runs it (instead of requiring one)."""
        step_id = self.prefix + name
        require = self.last if after == "previous" else after
        self.steps.append(
            {
                "id": step_id,
                "label": label,
                "kind": "runner",
                "fun": fun,
                "kwarg": dict(kwarg),
                "require": [{"salt": require}] if require and not onfail else [],
                "onfail": [{"salt": i} for i in onfail or []],
            }
        )
        if not onfail:
            self.last = step_id
        return step_id

    def fail(self, message):
        self.error = f"{FORMULA} {self.action}: {message}"
        return self.result()

    def note(self, message):
        self.notes.append(message)
        return self.result()

    def result(self):
        notes = list(self.notes)
        if self.steps and not notes:
            notes.append(
                f"{FORMULA} {self.action}: {len(self.steps)} steps, from "
                f"{self.steps[0]['label']!r} to {self.steps[-1]['label']!r}"
            )
        return {
            "action": self.action,
            "steps": [] if self.error else self.steps,
            "notes": [] if self.error else notes,
            "error": self.error,
        }


class _Facts:
    """What the planners decide on: the pillar's servers and the runner's view of them."""

    def __init__(
        self,
        view,
        servers,
        wait_timeout=DEFAULT_WAIT_TIMEOUT,
        target="",
        force=False,
        decision=None,
    ):
        self.view = view
        # repair: the verified decision (_repair_decision plus the lock's token), made by
        # plan() from the master's own queries; None: decide from the view alone.
        self.decision = decision
        self.servers = list(servers)
        self.by_minion = {s["minion"]: s for s in self.servers}
        self.position = {
            s["minion"]: f"{i} of {len(self.servers)}" for i, s in enumerate(self.servers, 1)
        }
        self.wait_timeout = wait_timeout
        self.force = bool(force)
        self.zone_servers = (view.get("zone") or {}).get("servers") or []
        self.target_arg = "" if target is None else str(target).strip()
        self.target = self._target()

    def _target(self):
        """The server named by ``target`` (a minion id or a zone server name): its pillar
        entry, else the zone's entry for that name (``minion`` None), else None."""
        arg = self.target_arg
        if not arg:
            return None
        found = [s for s in self.servers if s["minion"] == arg] + [
            s for s in self.servers if s["name"] == arg
        ]
        if found:
            return found[0]
        for entry in self.zone_servers:
            if entry["name"] == arg:
                return {
                    "minion": None,
                    "name": entry["name"],
                    "id": entry["id"],
                    "endpoint": entry.get("endpoint"),
                }
        return None

    def healthy(self, minion):
        return bool((self.view["servers"].get(minion) or {}).get("healthy"))

    def problems(self, default):
        return "; ".join(self.view.get("problems") or []) or default

    def in_zone(self, name):
        return [s for s in self.zone_servers if s["name"] == name]

    def run(self, leader, server, label, members, **more):
        return dict(
            {
                "leader": leader,
                "server": server,
                "step": label,
                "members": [dict(m) for m in members],
                "timeout": self.wait_timeout,
            },
            **more,
        )

    def join(self, plan, prefix, server, leader, members):
        """The five steps that join ``server`` to the zone led by ``leader``. The wait for
        a caught-up follower runs on the leader: the new server's own copy of the zone
        lacks its server-add until the leader next writes a record (replication sends
        only from the records written after the server-add)."""
        label = f"joining {server['name']} ({self.position[server['minion']]})"
        run = self.run(leader["minion"], server["minion"], label, members)
        plan.step(f"{prefix}-backup", f"{label}: fresh DB backup on the leader {leader['name']}",
                  leader["minion"], "ha.backup", run)  # fmt: skip
        plan.step(f"{prefix}-restore", f"{label}: restoring the leader backup",
                  server["minion"], "ha.restore", run)  # fmt: skip
        plan.step(f"{prefix}-member", f"{label}: server-add on the leader {leader['name']}",
                  leader["minion"], "ha.member", run)  # fmt: skip
        plan.step(f"{prefix}-start", f"{label}: SERVER_ID {server['id']} and start",
                  server["minion"], "ha.start", run)  # fmt: skip
        plan.step(f"{prefix}-healthy", f"{label}: waiting until it is a caught-up follower",
                  leader["minion"], "ha.healthy", run)  # fmt: skip


def _members(servers):
    return [{"name": s["name"], "id": s["id"]} for s in servers]


def _restore_deploy(facts, plan, server, leader, after):
    """The restore of ``server``'s DB from the fresh backup the leader's state run
    ``after`` took: a parallel step (Salt starts it at once, beside the chain)."""
    label = f"joining {server['name']} ({facts.position[server['minion']]})"
    run = facts.run(leader["minion"], server["minion"], label, [])
    return plan.step(f"join-{server['minion']}-restore",
                     f"{label}: restoring the fresh DB backup of {leader['name']}",
                     server["minion"], "ha.restore", run, after=after,
                     parallel=True)  # fmt: skip


def _join_deploy(facts, plan, server, leader, members, restored, following=None):
    """The deploy's chain steps that join ``server``, whose DB restore is the parallel
    step ``restored``: on the leader, in one state run (failhard), the wait for a healthy
    zone of the members joined so far (the previous join's caught-up follower, or the
    bootstrap server leading), the server-add and, when another server ``following``
    joins next, the fresh backup it restores (the zone then holds every member so far,
    this server included); on the server, SERVER_ID and start, beside the next server's
    restore. Returns the next server's restore step."""
    position = facts.position[server["minion"]]
    label = f"joining {server['name']} ({position})"
    run = facts.run(leader["minion"], server["minion"], label, _members(members + [server]),
                    wait_members=_members(members))  # fmt: skip
    prefix = f"join-{server['minion']}"
    backup = ("ha.backup",) if following else ()
    then = f", then the DB backup {following['name']} restores" if following else ""
    on_leader = plan.step(f"{prefix}-member",
                          f"{label}: healthy zone of {len(members)}, then server-add on the "
                          f"leader {leader['name']}{then}", leader["minion"],
                          ("ha.healthy", "ha.member", *backup), run,
                          also=[restored])  # fmt: skip
    next_restore = None
    if following:
        # Listed before this server's start, so that Salt starts it first (beside it).
        next_restore = _restore_deploy(facts, plan, following, leader, on_leader)
    plan.step(f"{prefix}-start", f"{label}: SERVER_ID {server['id']} and start",
              server["minion"], "ha.start", run)  # fmt: skip
    return next_restore


def _plan_deploy(facts):
    """Deploy from bare hosts, or finish an interrupted deploy (see orch/deploy.sls).

    Strictly one join at a time, each only from a healthy zone, each restoring a fresh
    backup of the leader. The leader's state run that publishes its secrets (its
    bootstrap on a bare cluster, else its base state) takes the first joiner's backup;
    the other front-ends' base states, then the first joiner's restore, run beside the
    chain (parallel steps, started at once: on a bare cluster during OpenNebula's warm-up
    and election). Each join is then one state run on the leader (wait for a healthy
    zone, server-add, the next joiner's backup) and one on the server (SERVER_ID, start),
    beside which the next joiner restores."""
    plan, view = _Plan("deploy"), facts.view
    if view.get("bare"):
        leader = facts.servers[0]
    elif view.get("leader") in facts.by_minion:
        leader = facts.by_minion[view["leader"]]
    else:
        return plan.fail(
            "cannot continue, no usable leader: "
            + facts.problems(f"leader {view.get('leader')} is not in onenebula_ha:servers")
        )
    minions = [s["minion"] for s in facts.servers]
    others = [m for m in minions if m != leader["minion"]]
    joining = [s for s in facts.servers
               if s["minion"] in others and not facts.healthy(s["minion"])]  # fmt: skip
    backup = ("ha.backup",) if joining else ()
    base_run = {"leader": leader["minion"]}
    plan.step("ssh-keys", "SSH keys of all front-ends", minions, "ssh.keys", base_run)
    # The publication of the leader's secrets shares a state run (failhard) with the step
    # before it: the bootstrap on a bare cluster, else the leader's base state (a running
    # member: its packages are there). A bare server's base state stays a run of its own:
    # the bootstrap's states need the modules of the commands it installs (onezone), and
    # Salt checks a run's states against the modules loaded when the run starts.
    taking = f", taking the DB backup {joining[0]['name']} restores" if joining else ""
    if view.get("bare"):
        plan.step("base-leader", f"base state on the bootstrap server {leader['name']}",
                  leader["minion"], "", base_run)  # fmt: skip
        label = f"bootstrapping {leader['name']} ({facts.position[leader['minion']]})"
        run = {"leader": leader["minion"], "server": leader["minion"], "step": label,
               "timeout": facts.wait_timeout}  # fmt: skip
        plan.step("bootstrap", f"{label}, publishing its secrets{taking}", leader["minion"],
                  ("ha.bootstrap", "ha.publish", *backup), run)  # fmt: skip
    else:
        plan.step("base-leader",
                  f"base state on the leader {leader['name']}, publishing its secrets{taking}",
                  leader["minion"], ("", "ha.publish", *backup), base_run)  # fmt: skip
    # Parallel steps: Salt starts one at once only when what it requires has finished (a
    # parallel step that requires a running one starts once a later step of the chain
    # waits for it), so the base states require the leader's run, the first restore the
    # base states, and each later restore the leader's run that took its backup.
    base = None
    if others:
        base = plan.step("base-others", "base state on " + ", ".join(others), others, "",
                         base_run, parallel=True)  # fmt: skip
    restored = _restore_deploy(facts, plan, joining[0], leader, base) if joining else None
    members = [leader]
    for server in facts.servers:
        if server["minion"] == leader["minion"]:
            continue
        if server in joining:
            index = joining.index(server)
            following = joining[index + 1] if index + 1 < len(joining) else None
            restored = _join_deploy(facts, plan, server, leader, members, restored,
                                    following=following)  # fmt: skip
        members.append(server)
    # On the leader: the last joiner's own copy of the zone lacks its server-add until the
    # leader next writes a record (replication sends only what was written after it).
    run = facts.run(leader["minion"], leader["minion"], "deploy", _members(members))
    plan.step("healthy",
              f"deployed: {len(facts.servers)} front-ends, waiting for a healthy zone",
              leader["minion"], "ha.healthy", run,
              also=[base] if base else [])  # fmt: skip
    return plan.result()


def _plan_add(facts):
    """Join one new server of the pillar to a running zone (see orch/add.sls)."""
    plan, view = _Plan("add"), facts.view
    if view.get("bare") or view.get("leader") not in facts.by_minion:
        return plan.fail(
            "there is no running zone with a leader to join ("
            + facts.problems("bare cluster")
            + "): use onenebula_ha.orch.deploy"
        )
    leader = facts.by_minion[view["leader"]]
    if facts.target_arg:
        new = facts.target
        if new is None or new["minion"] not in facts.by_minion:
            return plan.fail(
                f"{facts.target_arg} is not a server of onenebula_ha:servers (minion id or name)"
            )
    else:
        pending = [
            s
            for s in facts.servers
            if s["minion"] != leader["minion"] and not facts.healthy(s["minion"])
        ]
        new = pending[0] if pending else None
    if new is None or facts.healthy(new["minion"]):
        who = f"{new['name']} is" if new else "all servers of onenebula_ha:servers are"
        return plan.note(
            f"Nothing to add: {who} already a healthy member of the zone (leader {leader['name']})"
        )
    others = [s["minion"] for s in facts.servers if s["minion"] != new["minion"]]
    base_run = {"leader": leader["minion"]}
    label = f"adding {new['name']} ({facts.position[new['minion']]})"
    members = [
        s for s in facts.servers if facts.healthy(s["minion"]) or s["minion"] == new["minion"]
    ]
    plan.step("ssh-keys", f"{label}: SSH key", new["minion"], "ssh.keys", base_run)
    plan.step("ssh-others", f"{label}: authorising its SSH key", others, "ssh", base_run)
    plan.step("publish", f"{label}: publishing the secrets of {leader['name']}",
              leader["minion"], "ha.publish", base_run)  # fmt: skip
    plan.step("base", f"{label}: base state", new["minion"], "", base_run)
    # The agents of the members count a majority of the servers in their configuration:
    # they must count the new one before it can vote, or a leader cut off with a follower
    # would still see "2 of 3" in a zone that has grown to 5 and keep the VIP.
    current = [s["minion"] for s in members if s["minion"] != new["minion"]]
    plan.step("fence", f"{label}: the members' fencing agents count {len(facts.servers)} servers",
              current, "fence", base_run)  # fmt: skip
    facts.join(plan, "join", new, leader, _members(members))
    return plan.result()


def _plan_remove(facts):
    """Remove one server from the zone (see orch/remove.sls), only with a leader a majority
    of the front-ends agrees on (:func:`_majority_leader`)."""
    plan, view, target = _Plan("remove"), facts.view, facts.target
    if not facts.target_arg:
        return plan.fail('name the server: pillar=\'{"target": "<minion or server name>"}\'')
    if target is None:
        return plan.fail(
            f"unknown server {facts.target_arg}: neither a minion or name in "
            "onenebula_ha:servers nor a server of the zone"
        )
    if view.get("bare") or not view.get("leader"):
        return plan.fail(
            f"no zone leader to remove {target['name']} with ("
            + facts.problems("bare cluster")
            + "); retry once the zone has a leader"
        )
    # The stop and the server-del are destructive: decided only with the leader a majority
    # of the front-ends agrees on (their own answers), never the highest self-reported term.
    agreed = _majority_leader(facts.servers, _raft_from_view(view))
    if not agreed["leader"]:
        return plan.fail(
            f"no leader a majority of the front-ends agrees on to remove {target['name']} "
            f"with ({agreed['reason']}); nothing done, retry once the zone has one"
        )
    leader = agreed["leader"]
    zone_servers = facts.zone_servers
    if zone_servers and not facts.in_zone(target["name"]):
        return plan.note(
            f"{target['name']} is not a member of the zone (leader {leader}): nothing to remove"
        )
    remaining = [s for s in zone_servers if s["name"] != target["name"]]
    remaining_names = {s["name"] for s in remaining}
    remaining_minions = [s["minion"] for s in facts.servers if s["name"] in remaining_names]
    if not remaining_minions:
        return plan.fail(
            f"refusing to remove {target['name']}: no other member of the zone is a minion "
            "of onenebula_ha:servers"
        )
    label = f"removing {target['name']}"
    run = facts.run(leader, target["minion"], label, _members(remaining),
                    name=target["name"], id=target["id"], ignore=[target["name"]])  # fmt: skip
    answered = (view["servers"].get(target["minion"]) or {}).get("answered")
    if target["minion"] and not (facts.force and not answered):
        plan.step("stop", f"{label}: stopping OpenNebula on it", target["minion"], "ha.stop", run)
    elif not facts.force:
        return plan.fail(
            f"{target['name']} has no minion in onenebula_ha:servers to stop it with; stop "
            "OpenNebula on it yourself and re-run with pillar force: true"
        )
    plan.step("leader", f"{label}: waiting for a leader among the others",
              remaining_minions[0], "ha.healthy", run)  # fmt: skip
    plan.step("absent", f"{label}: server-del on the leader", remaining_minions, "ha.absent", run)
    plan.step("healthy", f"{label}: waiting for a healthy zone", remaining_minions[0],
              "ha.healthy", dict(run, ignore=[]))  # fmt: skip
    return plan.result()


def _plan_repair(facts):
    """Repair a follower in error or out of the leader's log window (see orch/repair.sls).

    Only on the verified decision (``facts.decision``, see :func:`_repair_decision`): the
    source is the leader a majority agrees on, the target is broken as that leader sees it.
    Each destructive step is preceded by a fresh check on the master
    (:func:`repair_check`), and the repair lock is released at the end, with the outcome
    (:func:`repair_release`)."""
    plan, target = _Plan("repair"), facts.target
    if not facts.target_arg:
        return plan.fail('name the server: pillar=\'{"target": "<minion or server name>"}\'')
    if target is None or target["minion"] not in facts.by_minion:
        return plan.fail(
            f"unknown server {facts.target_arg}: not a minion or name of onenebula_ha:servers"
        )
    decision = facts.decision
    if decision is None:
        decision = _repair_decision(
            facts.servers,
            target["minion"],
            _raft_from_view(facts.view),
            facts.view.get("zone"),
            force=facts.force,
        )
    if not decision.get("repair"):
        return plan.note(f"{FORMULA} repair: nothing done: {decision.get('reason')}")
    leader = facts.by_minion[decision["leader"]]
    token = decision.get("token")
    label = f"repairing {target['name']}"
    run = facts.run(leader["minion"], target["minion"], label, _members(facts.zone_servers))
    check = {"target": target["minion"], "leader": leader["minion"], "token": token,
             "force": facts.force}  # fmt: skip
    plan.note(f"{label} from {leader['name']} (term {decision.get('term')}): "
              f"{decision.get('reason')}")  # fmt: skip
    backup = plan.step("backup", f"{label}: fresh DB backup on the leader {leader['name']}",
                       leader["minion"], "ha.backup", run)  # fmt: skip
    checked = plan.runner("check-restore", f"{label}: checking again before the restore",
                          "onenebula_ha.repair_check", dict(check, stage="restore"))  # fmt: skip
    restore = plan.step("restore", f"{label}: stopping it and restoring the backup",
                        target["minion"], "ha.restore", run)  # fmt: skip
    # A dump is never reused: when the repair stops before the restore pulled it (a check
    # refused, the restore failed early), it is deleted on the leader.
    plan.step("discard", f"{label}: failed, deleting the fresh dump on {leader['name']}",
              leader["minion"], "ha.discard", run, onfail=[backup, checked, restore])  # fmt: skip
    plan.step("start", f"{label}: starting OpenNebula", target["minion"], "ha.start", run)
    plan.runner("check-reset", f"{label}: checking again before the server-reset",
                "onenebula_ha.repair_check", dict(check, stage="reset"))  # fmt: skip
    # These two wait up to run["timeout"] for the zone, on the leader, the busiest host while
    # the follower catches up: the master waits that long for their return, or one find_job
    # answered late (gather_job_timeout) counts a step that was still running as failed.
    waits = run["timeout"] + STEP_JOB_MARGIN
    plan.step("reset", f"{label}: server-reset on the leader {leader['name']}",
              leader["minion"], "ha.reset", run, job_timeout=waits)  # fmt: skip
    plan.step("healthy", f"{label}: waiting for a healthy zone", leader["minion"],
              "ha.healthy", run, job_timeout=waits)  # fmt: skip
    if token:
        steps = [step["id"] for step in plan.steps]
        plan.runner("done", f"{label}: done, releasing the repair lock",
                    "onenebula_ha.repair_release", {"token": token, "ok": True})  # fmt: skip
        plan.runner("failed", f"{label}: failed, releasing the repair lock (with back-off)",
                    "onenebula_ha.repair_release", {"token": token, "ok": False},
                    onfail=steps)  # fmt: skip
    return plan.result()


def _plan_rolling_restart(facts):
    """Restart oned on every member, followers first, the leader last."""
    plan, view = _Plan("rolling_restart"), facts.view
    if not view.get("leader") or view["leader"] not in facts.by_minion:
        return plan.fail("the zone has no usable leader (" + facts.problems("bare cluster") + ")")
    unhealthy = [
        f"{minion}: " + ", ".join(entry.get("problems") or [])
        for minion, entry in sorted(view["servers"].items())
        if entry.get("member") and not entry.get("healthy")
    ]
    if (unhealthy or view.get("problems")) and not facts.force:
        return plan.fail(
            "the zone is not healthy, not restarting anything: "
            + "; ".join(list(view.get("problems") or []) + unhealthy)
        )
    leader = facts.by_minion[view["leader"]]
    followers = [
        s
        for s in facts.servers
        if s["minion"] != leader["minion"]
        and (view["servers"].get(s["minion"]) or {}).get("member")
    ]
    members = _members(facts.zone_servers)
    order = followers + [leader]
    plan.last = None
    for index, server in enumerate(order, 1):
        is_leader = server is leader
        label = (
            f"restarting {server['name']} ({index} of {len(order)}"
            + (", the leader" if is_leader else "")
            + ")"
        )
        watcher = (
            (followers[0]["minion"] if followers else leader["minion"])
            if is_leader
            else leader["minion"]
        )
        run = facts.run(leader["minion"], server["minion"], label, members)
        plan.step(server["minion"], label, server["minion"], "ha.restart", run)
        plan.step(f"{server['minion']}-healthy", f"{label}: waiting for a healthy zone", watcher,
                  "ha.healthy", run)  # fmt: skip
    return plan.result()


def _id_conflicts(facts):
    """Pillar servers the zone already lists under another SERVER_ID. A deployed server
    keeps the ID the zone gave it (oned.conf, the Raft log and the peers know it by that
    ID), so a pillar edit of ``id`` cannot be applied by any step."""
    conflicts = []
    for server in facts.servers:
        for entry in facts.in_zone(server["name"]):
            if entry.get("id") != server["id"]:
                conflicts.append(
                    f"{server['name']} is server {entry.get('id')} in the zone but has id "
                    f"{server['id']} in onenebula_ha:servers"
                )
    return conflicts


def _checked_first(planner):
    """Refuse before planning any step (a DB backup included) when the pillar changed the
    SERVER_ID of a deployed server; ``remove`` stays possible, it is the way out."""

    def checked(facts):
        conflicts = _id_conflicts(facts)
        if conflicts:
            return _Plan(planner.__name__.removeprefix("_plan_")).fail(
                "; ".join(conflicts)
                + ": a deployed server keeps its SERVER_ID; put the zone's id back in the "
                "pillar, or remove the server (onenebula_ha.orch.remove) and add it again"
            )
        return planner(facts)

    checked.__name__ = planner.__name__
    checked.__doc__ = planner.__doc__
    return checked


def _platform_refusals(minions, requirement, answers):
    """
    ``{minion: why}`` for the ``minions`` that cannot run the front-end ``requirement``
    asks for (``onenebula_platform.requirement``: version, edition and the table of
    supported platforms), decided from their grains as the master just read them
    (``answers``: :func:`_call` of ``grains.items``) by the render's own decision
    (``onenebula_ha.platform_error``). A minion whose grains cannot be read, or name no
    OS, is refused too: its platform is unknown.
    """
    refusals = {}
    for minion in minions:
        answer = answers.get(minion) or {"ok": False, "error": "minion did not answer"}
        grains = answer.get("ret") if answer.get("ok") else None
        if not isinstance(grains, dict) or not grains.get("os"):
            # Salt's answer for a silent minion goes on with how to look the job up later.
            why = (str(answer.get("error") or "").strip().splitlines() or ["no os grain"])[0]
            refusals[minion] = f"has unreadable grains ({why}), so its platform is unknown"
            continue
        error = __utils__["onenebula_ha.platform_error"](
            requirement.get("platforms") or {},
            requirement.get("version"),
            requirement.get("edition"),
            grains,
        )
        if error:
            shown = f"{grains.get('os')} {grains.get('osrelease')}"[:60]
            refusals[minion] = f"runs {shown!r}: {error}"
    return refusals


def _platform_refusal(action, refusals):
    """The refused plan of ``action`` (deploy, add) when front-ends cannot run the front-end
    (``refusals``, :func:`_platform_refusals`), else ``None``. Decided before the zone is
    even looked at: a deploy's first step (SSH keys) runs on every front-end and an add's
    first two on the new one and on every other, so a front-end whose render would fail
    at its own step would fail the run after the steps before it had changed the others."""
    if not refusals:
        return None
    by_reason = {}
    for minion, why in refusals.items():
        by_reason.setdefault(why, []).append(minion)
    return _Plan(action).fail(
        "unsupported platform, nothing changed: "
        + "; ".join(f"{', '.join(minions)} {why}" for why, minions in by_reason.items())
    )


_PLANNERS = {
    "deploy": _checked_first(_plan_deploy),
    "add": _checked_first(_plan_add),
    "remove": _plan_remove,
    "repair": _checked_first(_plan_repair),
    "rolling_restart": _checked_first(_plan_rolling_restart),
}


def plan(action, target=None, force=False, servers=None, zone=0, wait=None, claim=True,
         platform=None):  # fmt: skip
    """
    Return the ordered steps of orchestration ``action`` (``deploy``, ``add``, ``remove``,
    ``repair``, ``rolling_restart``), decided from what the front-ends report right now
    (:func:`view`): ``{"action", "steps": [{"id", "label", "tgt", "sls", "run",
    "require"}], "notes": [...], "error": <message or None>}``. ``target`` (a minion id or
    a zone server name) and ``force`` are the orchestration's pillar values, ``wait`` the
    seconds each step waits for a healthy zone (``deploy:wait_timeout``). Nothing is
    changed: the orchestration SLS runs the steps.

    ``repair`` is decided from fresh queries of every front-end (:func:`_repair_decision`)
    and, with ``claim`` (not in test mode), takes the repair lock: a refusal is a note and
    is logged, with its reason.

    ``platform`` (``deploy``, ``add``): what every front-end's platform must offer
    (``onenebula_platform.requirement``, which the orchestrations pass; ``None``: the
    packages do not come from OpenNebula's repositories, nothing to check). The plan is
    refused before its first step when a front-end runs an OS or release that
    version has no packages for, or its grains (read from it now) cannot be read: the
    error names each such minion, its os/osrelease, the supported list and the keys that
    choose another package source (every front-end: the first steps of both run on all).

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.plan deploy
        salt-run onenebula_ha.plan repair target=vmm03
    """
    if action not in _PLANNERS:
        raise SaltInvocationError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    servers, settings = _settings(servers)
    if wait is None:
        wait = (settings.get("deploy") or {}).get("wait_timeout", DEFAULT_WAIT_TIMEOUT)
    if action in ("deploy", "add") and platform:
        minions = [s["minion"] for s in servers]
        refusals = _platform_refusals(minions, platform, _call(minions, "grains.items"))
        refused = _platform_refusal(action, refusals)
        if refused:
            return refused
    current = view(servers=servers, zone=zone)
    facts = _Facts(current, servers, wait_timeout=wait, target=target, force=force)
    if action == "repair" and facts.target and facts.target.get("minion") in facts.by_minion:
        facts.decision = _verified_repair(
            servers, facts.target["minion"], current, zone, force, claim, settings
        )
    return _PLANNERS[action](facts)


# ------------------------------------------------------------------ the VIP safety net


def _reactor_settings(settings=None):
    """The master's ``onenebula_ha_reactor`` configuration (onenebula_ha.salt.master)."""
    if settings is None:
        settings = __opts__.get("onenebula_ha_reactor")
    return settings if isinstance(settings, dict) else {}


def _frontends(settings):
    frontends = settings.get("frontends")
    if not isinstance(frontends, list):
        return []
    return [f for f in frontends if isinstance(f, dict) and "minion" in f]


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _vip_request(request, settings):
    """``(leader, term, vip, hook, frontends, note)``: the checked request, or a note why
    nothing is done (then nobody is asked anything)."""
    request = request if isinstance(request, dict) else {}
    frontends = [f["minion"] for f in _frontends(settings)]
    vip = settings.get("vip") or {}
    hook = settings.get("hook") or {}
    leader, term = request.get("leader"), request.get("term")

    def ignored(note):
        return None, None, vip, hook, frontends, note

    if not (vip.get("address") and vip.get("interface") and hook.get("command")):
        return ignored("no VIP configured (onenebula_ha_reactor:vip/hook): nothing to do")
    if leader not in frontends or not _is_int(term):
        return ignored(
            "ignored: pillar onenebula_ha_vip needs leader (one of "
            + ", ".join(frontends)
            + ") and term (an integer), got "
            + json.dumps(request, sort_keys=True)
        )
    return leader, term, vip, hook, frontends, None


def _vip_decision(servers, leader, term, vip, hook, raft, holders):
    """Who releases and who claims the VIP, after ``leader`` reported leadership in
    ``term`` (the role event: a trigger, not evidence). ``servers``: the front-ends
    (``minion``, ``id``); ``raft``: {minion: raft_status} of those that answered;
    ``holders``: the minions that hold the VIP. Only the leader a majority of the
    front-ends agrees on (:func:`_majority_leader`) gets it; without one nothing moves.
    Returns ``{"notes", "actions": [{"action", "minion", "hook"}]}`` (releases first;
    ``hook``: the keyword arguments of ``onenebula_vip.hook``, which runs the hook's action
    on the minion only if its own oned still fits this plan when the step runs)."""
    answers = {m: {"ok": True, "ret": status} for m, status in raft.items()}
    moves = _vip_moves(servers, answers, holders)
    if not moves["leader"]:
        return {"notes": [f"{moves['reason']}: nothing to do"], "actions": []}
    agreed = moves["leader"]
    notes = []
    if agreed != leader or moves["term"] != term:
        notes.append(
            f"the role event named {leader} (term {term}); the front-ends agree on "
            f"{agreed} (term {moves['term']})"
        )

    def action(kind, minion):
        # Run by onenebula_vip.hook on the minion, which asks its own oned again right
        # before acting: this plan's answers may already be stale when the step runs.
        return {
            "action": kind,
            "minion": minion,
            "hook": {
                "action": "follower" if kind == "release" else "leader",
                "term": moves["term"],
                "interface": vip["interface"],
                "address": vip["address"],
                "script": hook["command"],
                "runas": hook.get("runas"),
            },
        }

    release, claim = moves["release"], moves["claim"]
    notes.append(
        f"VIP {vip['address']} held by [{', '.join(holders)}], leader {agreed} (term "
        f"{moves['term']}, followed by a majority): "
        + (f"release on {', '.join(release)}" if release else "nothing to release")
        + ", "
        + (f"claim on {agreed}" if claim else "leader holds it")
    )
    return {
        "notes": notes,
        "actions": [action("release", m) for m in release] + [action("claim", m) for m in claim],
    }


def vip_plan(request=None, settings=None, timeout=None):
    """
    Decide the VIP safety net after a leader change (``orch.remediate_vip``): ``request``
    is ``{"leader": <minion>, "term": <int>}`` from the role event. Every front-end is
    asked for its Raft status and whether it holds the VIP; the request is only a trigger:
    the leader a majority of the front-ends agrees on claims it if it lacks it (the VIP
    hook's leader action), every other holder releases it (the follower action). Without
    an agreed leader (none, two claimants, a term nobody follows) nothing moves.
    Returns ``{"notes": [...], "actions": [{"action", "minion", "hook"}]}``.

    ``settings``: the master's ``onenebula_ha_reactor`` configuration by default.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.vip_plan request='{"leader": "vmm02", "term": 7}'
    """
    settings = _reactor_settings(settings)
    leader, term, vip, hook, frontends, note = _vip_request(request, settings)
    if note:
        return {"notes": [note], "actions": []}
    timeout = timeout or settings.get("query_timeout", 10)
    statuses = _call(frontends, "onenebula_zone.raft_status", timeout=timeout)
    found = _call(frontends, "network.ip_addrs", (), {"interface": vip["interface"]}, timeout)
    address = str(vip["address"]).split("/")[0]
    raft = {
        m: statuses[m]["ret"]
        for m in frontends
        if statuses[m]["ok"] and isinstance(statuses[m]["ret"], dict)
    }
    holders = [
        m
        for m in frontends
        if found[m]["ok"] and isinstance(found[m]["ret"], list) and address in found[m]["ret"]
    ]
    servers = [f for f in _frontends(settings) if "id" in f]
    return _vip_decision(servers, leader, term, vip, hook, raft, holders)


# ------------------------------------------------------------------ reactions


def _reaction(reaction_id, mods, pillar):
    return {"id": reaction_id, "mods": mods, "pillar": pillar}


def _role_decision(tag, event, settings):
    """``(reactions, (level, message) or None)`` for a beacon ``role`` event."""
    event = event if isinstance(event, dict) else {}
    prefix = f"onenebula_ha reactor: {tag}: "
    reporter = event.get("id")
    if event.get("state") != "leader":
        return [], None  # only a new leader needs the VIP checked
    if not settings.get("move_vip", False):
        return [], ("debug", prefix + "move_vip is off, not checking the VIP")
    entries = [f for f in _frontends(settings) if f["minion"] == reporter]
    if len(entries) != 1:
        return [], ("warning", f"{prefix}ignored: {reporter} is not a known front-end")
    if not _is_int(event.get("term")) or not _is_int(event.get("server_id")):
        return [], ("warning", prefix + "ignored: malformed event data (term, server_id)")
    if event["server_id"] != entries[0].get("id"):
        return [], (
            "warning",
            f"{prefix}ignored: {reporter} reports server id {event['server_id']}, the pillar "
            f"says {entries[0].get('id')}",
        )
    reaction = _reaction(
        f"onenebula_ha-reactor-remediate_vip-{reporter}-term-{event['term']}",
        "onenebula_ha.orch.remediate_vip",
        {"onenebula_ha_vip": {"leader": reporter, "term": event["term"]}},
    )
    return [reaction], None


def _error_decision(tag, event, settings, lock, now):
    """``(reactions, (level, message) or None)`` for a beacon ``error`` event (the leader
    names a server) or ``database`` event (a follower names itself).

    The event is a trigger only: it names the server to look at, and the repair
    orchestration then decides from the master's own queries (:func:`repair_claim`). Here
    nothing is locked; the event is ignored when repair is off, when it does not come from
    and name known front-ends, or while the stored lock (never the event) says a repair
    runs or this target is backing off."""
    event = event if isinstance(event, dict) else {}
    prefix = f"onenebula_ha reactor: {tag}: "
    ttl = settings.get("repair_lock_ttl", 3600)
    reporter, server_id, name = event.get("id"), event.get("server_id"), event.get("name")
    frontends = _frontends(settings)
    if not settings.get("repair", False):
        return [], ("debug", f"{prefix}repair is off, not repairing {name}")
    if len([f for f in frontends if f["minion"] == reporter]) != 1:
        return [], ("warning", f"{prefix}ignored: {reporter} is not a known front-end")
    own_database = str(tag).endswith("/database")
    if own_database:
        # A follower reports its own database damaged: the only server it can name is itself.
        own = next(f for f in frontends if f["minion"] == reporter)
        if _is_int(server_id) and server_id != own.get("id"):
            return [], (
                "warning",
                f"{prefix}ignored: {reporter} is server {own.get('id')}, it reports the "
                f"database of server {server_id}",
            )
        name = own.get("name")
    if not _is_int(server_id) or not isinstance(name, str):
        return [], ("warning", prefix + "ignored: malformed event data (server_id, name)")
    targets = [f for f in frontends if f.get("id") == server_id and f.get("name") == name]
    if len(targets) != 1:
        return [], ("warning", f"{prefix}ignored: no front-end is server {server_id} named {name}")
    target = targets[0]["minion"]
    if target == reporter and not own_database:
        return [], ("warning", f"{prefix}ignored: {reporter} reports itself in error")
    free, why = _lock_decision(lock, target, now, ttl)
    if not free:
        return [], ("info", f"{prefix}not looking at {target} now: {why}")
    looked = ((lock if isinstance(lock, dict) else {}).get("looked") or {}).get(target)
    if _is_number(looked) and now - looked < LOOK_COOLDOWN:
        return [], (
            "debug",
            f"{prefix}{target} was looked at {int(now - looked)} s ago (at most one look every "
            f"{LOOK_COOLDOWN} s)",
        )
    reaction = _reaction(
        f"onenebula_ha-reactor-repair-{target}", "onenebula_ha.orch.repair", {"target": target}
    )
    what = "its own database damaged" if own_database else (event.get("reason") or "in error")
    return [reaction], (
        "warning",
        f"{prefix}{reporter} reports server {server_id} ({name}) {what}: starting "
        f"onenebula_ha.orch.repair for {target}, which checks the zone itself (and the "
        "databases) before it changes anything",
    )


def _log(decision):
    if decision:
        level, message = decision
        getattr(log, level)("%s", message)


def role_reaction(tag, event, settings=None):
    """
    The reactions to a beacon ``role`` event (``reactor/onenebula_ha/role.sls``): a known
    front-end that reports it became the leader gets the VIP safety net
    (``orch.remediate_vip``). Returns ``[{"id", "mods", "pillar"}]`` (empty: nothing to
    do; the reason is logged).

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.role_reaction salt/beacon/vmm02/onenebula_raft/role \\
            event='{"id": "vmm02", "state": "leader", "term": 7, "server_id": 1}'
    """
    reactions, logged = _role_decision(tag, event, _reactor_settings(settings))
    _log(logged)
    return reactions


def error_reaction(tag, event, settings=None):
    """
    The reactions to a beacon ``error`` or ``database`` event
    (``reactor/onenebula_ha/error.sls``): start ``orch.repair`` for the named front-end
    (for ``database``, the reporter itself), unless repair is off, the event does not come
    from and name known front-ends, or the repair lock is held or that target is backing
    off after a failed repair. The event takes no lock and proves nothing: the
    orchestration decides (:func:`repair_claim`). Returns ``[{"id", "mods", "pillar"}]``.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.error_reaction salt/beacon/vmm01/onenebula_raft/error \\
            event='{"id": "vmm01", "server_id": 2, "name": "vmm03"}'
    """
    now = time.time()
    reactions, logged = _error_decision(tag, event, _reactor_settings(settings), _read_lock(), now)
    for reaction in reactions:
        target = reaction["pillar"]["target"]

        def looked(record, target=target):
            record = dict(record)
            record["looked"] = dict(record.get("looked") or {}, **{target: now})
            return record, None

        _update_lock(looked)
    _log(logged)
    return reactions


# ------------------------------------------------------------------ fencing agents


def _fence_summary(answers):
    """Each agent's view and what is wrong, from ``onenebula_fence.health`` answers.

    ``answers`` is ``{minion: {"ok", "ret" | "error"}}`` (as :func:`_call` returns). Plain
    function: the second line's reading of the agents (docs/fence.md).
    """
    agents, problems, lease_holders = {}, [], []
    for minion, answer in sorted(answers.items()):
        row = {"agent": "?", "state": None, "term": None, "lease_s": None, "vip": None}
        row.update({"leader_endpoint": None, "follower_endpoint": None, "last_transition": None})
        ret = answer.get("ret") if answer.get("ok") else None
        if not isinstance(ret, dict):
            row["agent"] = f"unknown ({answer.get('error', 'no answer')})"
        elif not ret.get("reachable"):
            row["agent"] = "down"
            problems.append(f"{minion}: fencing agent not answering ({ret.get('error')})")
        else:
            health = ret.get("health") or {}
            lease = health.get("lease") or {}
            row.update(
                agent="up",
                state=health.get("state"),
                term=health.get("term"),
                lease_s=lease.get("remaining_s") if lease.get("held") else None,
                vip=(health.get("vip") or {}).get("held"),
                leader_endpoint=bool(ret.get("leader")),
                follower_endpoint=bool(health.get("follower_ok")),
                last_transition=health.get("last_transition"),
            )
            if lease.get("held"):
                lease_holders.append(minion)
            if row["vip"] and not lease.get("held"):
                problems.append(f"{minion}: holds the VIP without a lease")
            if lease.get("error"):
                problems.append(f"{minion}: no lease possible: {lease['error']}")
        agents[minion] = row
    if len(lease_holders) > 1:
        problems.append(f"several agents hold a lease: {', '.join(lease_holders)}")
    return {"agents": agents, "lease_holders": lease_holders, "problems": problems}


def fence(servers=None, timeout=10):
    """
    Each front-end's fencing agent as it sees itself: Raft state and term, lease left, VIP
    held, whether ``/leader`` and ``/follower`` answer 200, its last transition and why;
    plus what is wrong (an agent down, a VIP held without a lease, several lease holders).

    The agents are asked through their minions (``onenebula_fence.health``), each for its
    local endpoint.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.fence
    """
    servers, _settings_data = _settings(servers)
    minions = [server["minion"] for server in servers]
    return _fence_summary(_call(minions, "onenebula_fence.health", timeout=timeout))


# ------------------------------------------------------------------ verified decisions
#
# Beacon events are triggers, not evidence: a VIP move or a destructive step (stop, restore,
# server-del, server-reset) is decided only from the master's own fresh queries of every
# front-end, and only when a majority agrees: one server reports state leader, in one term,
# and a majority of the pillar's front-ends (that leader included) report that same term as
# its followers. Anything else (no leader, two claimants, a leader whose term nobody
# follows, a target that answers as a healthy follower) means nothing is done, and why is
# logged. The functions below take the facts and return the decision (plain Python, tested
# without Salt); the runner functions gather the facts.

REPAIR_RETRY_BASE = 30
# A beacon repeats its report at every zone check: one repair orchestration (one look at
# the zone) per target at most this often; a flood of forged events costs at most that.
LOOK_COOLDOWN = 30
REPAIR_RETRY_MAX = 600
DEFAULT_CONFIRM_SECONDS = 3


def _status_of(raft, minion):
    """A front-end's own Raft status, or None when it (or its oned) did not answer."""
    entry = raft.get(minion) or {}
    status = entry.get("ret") if entry.get("ok") else None
    return status if isinstance(status, dict) else None


def _state_name(status):
    if not status:
        return "down"
    name = status.get("state_name")
    return (
        name if isinstance(name, str) else __utils__["onenebula_ha.state_name"](status.get("state"))
    )


def _majority_leader(servers, raft):
    """
    The leader a majority of the front-ends agrees on, from each one's own answer.

    ``servers``: the pillar's front-ends (``minion``, ``id``); ``raft``: ``{minion: {"ok",
    "ret" | "error"}}`` from ``onenebula_zone.raft_status``. Returns ``{"leader": <minion or
    None>, "term", "followers": [minions], "reason": <why there is no agreed leader, or
    None>}``.
    """
    result = {"leader": None, "term": None, "followers": [], "reason": None}
    minions = [s["minion"] for s in servers]
    claimants = [m for m in minions if _state_name(_status_of(raft, m)) == "leader"]
    if not claimants:
        result["reason"] = "no front-end reports state leader"
        return result
    if len(claimants) > 1:
        terms = ", ".join(f"{m} (term {_status_of(raft, m).get('term')})" for m in claimants)
        result["reason"] = f"{len(claimants)} front-ends claim leadership: {terms}"
        return result
    leader = claimants[0]
    status = _status_of(raft, leader)
    term = status.get("term")
    if not _is_int(term):
        result["reason"] = f"{leader} reports state leader without a valid term ({term!r})"
        return result
    pillar_id = next(s["id"] for s in servers if s["minion"] == leader)
    if status.get("server_id") != pillar_id:
        result["reason"] = (
            f"{leader} reports state leader as server {status.get('server_id')}, "
            f"the pillar says {pillar_id}"
        )
        return result
    followers = [
        m
        for m in minions
        if m != leader
        and _state_name(_status_of(raft, m)) == "follower"
        and _status_of(raft, m).get("term") == term
    ]
    needed = len(minions) // 2 + 1
    if 1 + len(followers) < needed:
        result["reason"] = (
            f"{leader} reports state leader in term {term}, but only "
            f"{1 + len(followers)} of {len(minions)} front-ends are in that term "
            f"(a majority is {needed})"
        )
        return result
    result.update(leader=leader, term=term, followers=followers)
    return result


def _database_damage(target, leader, databases):
    """What is wrong with the database of ``target`` (a minion) as the master's own query
    of it finds it (``onenebula_db.health``), or None: it does not exist, or it lacks a
    table every OpenNebula database has or the agreed ``leader``'s database has (only a
    leader whose own database checks out is a reference). A database that could not be
    checked (its server down) is no damage: nothing is restored on a guess."""
    own = _status_of(databases or {}, target)
    if own is None or own.get("exists") is None:
        return None
    name = own.get("database") or "of OpenNebula"
    if own.get("exists") is False:
        return f"its database {name} does not exist"
    missing = {str(table) for table in own.get("missing") or []}
    reference = _status_of(databases or {}, leader)
    if reference and reference.get("ok") is True and isinstance(reference.get("tables"), list):
        missing |= set(map(str, reference["tables"])) - set(map(str, own.get("tables") or []))
    if not missing:
        return None
    shown = sorted(missing)
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return f"its database {name} lacks the table(s) {', '.join(shown[:10])}{more}"


def _target_condition(target, leader, zone_doc, raft, later, max_lag, databases=None):
    """
    ``(broken, why)``: whether ``target`` (a pillar server) needs a repair as the agreed
    ``leader`` sees it, confirmed by the target's own answer; or whether its database is
    damaged as the master's own query of it finds it (:func:`_database_damage`: oned does
    not notice a dropped database until it next writes to it).

    ``zone_doc``: the zone as the leader shows it; ``raft``: every front-end's own status;
    ``later``: the same, a few seconds later (None when not sampled again), to tell a
    follower that is stuck from one that is catching up; ``databases``: every front-end's
    ``onenebula_db.health`` answer (``{minion: {"ok", "ret" | "error"}}``).
    """
    entries = [s for s in (zone_doc or {}).get("servers") or [] if s.get("name") == target["name"]]
    if len(entries) != 1:
        return False, f"{target['name']} is not a member of the zone as {leader} shows it"
    seen = entries[0]
    own = _status_of(raft, target["minion"])
    own_state = _state_name(own)
    if seen.get("state") == "error":
        if own is not None and own_state in __utils__["onenebula_ha.ha_states"]():
            return False, (
                f"{leader} sees {target['name']} in error, but it answers the master as "
                f"{own_state} (term {own.get('term')}): not repairing a running server "
                "(a network problem between them?)"
            )
        return True, f"{leader} sees {target['name']} in error and its oned does not answer"
    damage = _database_damage(target["minion"], leader, databases)
    if damage:
        return True, (
            f"{leader} sees {target['name']} in state {seen.get('state')}, but {damage} "
            "(the master's own check of it)"
        )
    if seen.get("state") != "follower":
        return False, f"{leader} sees {target['name']} in state {seen.get('state')}"
    leader_status = _status_of(raft, leader) or {}
    leader_index = leader_status.get("log_index")
    if own is None or own_state != "follower" or not _is_int(own.get("log_index")):
        return False, (
            f"{leader} sees {target['name']} as a follower, but it does not answer the "
            "master as one"
        )
    if not _is_int(leader_index) or leader_index - own["log_index"] <= max_lag:
        return False, (
            f"{target['name']} is a caught-up follower of {leader} (log index "
            f"{own.get('log_index')} of {leader_index})"
        )
    if later is None:
        return False, f"{target['name']} is behind {leader}: to be confirmed"
    again = _status_of(later, target["minion"])
    leader_again = _status_of(later, leader) or {}
    if (
        again is None
        or again.get("log_index") != own["log_index"]
        or not _is_int(leader_again.get("log_index"))
        or leader_again["log_index"] - own["log_index"] <= max_lag
    ):
        return False, f"{target['name']} is behind {leader} but catching up"
    return True, (
        f"{target['name']} is stuck {leader_again['log_index'] - own['log_index']} log records "
        f"behind {leader} at index {own['log_index']} (out of its log window?)"
    )


def _repair_decision(servers, target, raft, zone_doc, later=None, force=False,
                     max_lag=None, configured=None, databases=None):  # fmt: skip
    """
    Whether to repair ``target`` (a minion id) and from which leader: ``{"repair": bool,
    "leader": <minion or None>, "term", "reason"}``. The source is the majority-agreed
    leader, never the highest self-reported term; ``force`` (an operator's explicit
    request) repairs a server that looks healthy, never without an agreed leader.
    ``configured``: {minion: SERVER_ID in its oned.conf}; a target whose oned.conf does
    not carry its pillar id is being joined or removed (the orchestrations set it), not
    repaired. ``databases``: every front-end's ``onenebula_db.health`` answer, as the
    master just asked for it (a damaged database is a reason to repair a follower).
    """
    decision = {"repair": False, "leader": None, "term": None, "reason": None}
    by_minion = {s["minion"]: s for s in servers}
    if target not in by_minion:
        decision["reason"] = f"{target} is not a front-end of onenebula_ha:servers"
        return decision
    agreed = _majority_leader(servers, raft)
    if not agreed["leader"]:
        decision["reason"] = f"no repair of {target}: {agreed['reason']}"
        return decision
    leader = agreed["leader"]
    decision.update(leader=leader, term=agreed["term"])
    if leader == target:
        decision["reason"] = f"{target} is the leader (term {agreed['term']}): never repaired"
        return decision
    if configured is not None and configured.get(target) != by_minion[target]["id"]:
        decision["reason"] = (
            f"no repair of {target}: its oned.conf SERVER_ID is {configured.get(target)}, not "
            f"{by_minion[target]['id']} (being joined or removed)"
        )
        return decision
    max_lag = __utils__["onenebula_ha.max_lag"](max_lag)
    broken, why = _target_condition(by_minion[target], leader, zone_doc, raft, later, max_lag,
                                    databases)  # fmt: skip
    if not broken and not force:
        decision["reason"] = f"no repair of {target}: {why}"
        return decision
    decision.update(repair=True, reason=why if broken else f"forced: {why}")
    return decision


def _lock_decision(lock, target, now, ttl):
    """Whether the repair lock can be taken for ``target``: ``(ok, why)``. ``lock`` is the
    stored record (``holder`` and per-target ``failures``); nothing from an event."""
    lock = lock if isinstance(lock, dict) else {}
    holder = lock.get("holder")
    if isinstance(holder, dict) and _is_number(holder.get("started")):
        age = now - holder["started"]
        if age < ttl:
            return False, (
                f"the repair of {holder.get('target')} (from {holder.get('leader')}) started "
                f"{int(age)} s ago holds the lock"
            )
    failed = (lock.get("failures") or {}).get(target)
    if (
        isinstance(failed, dict)
        and _is_number(failed.get("retry_after"))
        and now < failed["retry_after"]
    ):
        return False, (
            f"the last {failed.get('count')} repair(s) of {target} failed "
            f"({failed.get('reason')}); next attempt in {int(failed['retry_after'] - now)} s"
        )
    return True, None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _released(lock, token, ok, reason, now):
    """The lock record after the repair holding ``token`` ended: ``(record, message)``;
    a failure backs that target off (30 s, doubling, at most 10 min)."""
    lock = dict(lock) if isinstance(lock, dict) else {}
    holder = lock.get("holder")
    if not isinstance(holder, dict) or holder.get("token") != token:
        return lock, "not released: this repair does not hold the lock (any more)"
    target = holder.get("target")
    failures = dict(lock.get("failures") or {})
    lock["holder"] = None
    if ok:
        failures.pop(target, None)
        lock["failures"] = failures
        return lock, f"repair of {target} done; lock released"
    count = int((failures.get(target) or {}).get("count", 0)) + 1
    delay = min(REPAIR_RETRY_BASE * 2 ** (count - 1), REPAIR_RETRY_MAX)
    failures[target] = {"count": count, "reason": reason, "retry_after": now + delay}
    lock["failures"] = failures
    return lock, (
        f"repair of {target} failed ({reason}); lock released, next attempt for it in "
        f"{delay} s at the earliest (attempt {count})"
    )


def _vip_moves(servers, raft, holders):
    """
    Where the VIP must go, from every front-end's own answer: ``{"leader": <agreed leader
    or None>, "term", "release": [minions], "claim": [minions], "reason"}``. Only the
    majority-agreed leader claims it, every other holder releases it; without an agreed
    leader nothing moves (a role event, whatever it says, changes none of this).
    """
    agreed = _majority_leader(servers, raft)
    moves = {"leader": agreed["leader"], "term": agreed["term"], "release": [], "claim": []}
    if not agreed["leader"]:
        moves["reason"] = f"VIP left as it is: {agreed['reason']}"
        return moves
    leader = agreed["leader"]
    moves["release"] = [m for m in holders if m != leader]
    moves["claim"] = [] if leader in holders else [leader]
    moves["reason"] = None
    return moves


def _raft_from_view(current):
    """``{minion: {"ok", "ret"}}`` (as from ``onenebula_zone.raft_status``) out of a view."""
    raft = {}
    for minion, entry in (current.get("servers") or {}).items():
        if entry.get("oned"):
            raft[minion] = {
                "ok": True,
                "ret": {
                    "state_name": entry.get("state"),
                    "term": entry.get("term"),
                    "server_id": entry.get("server_id"),
                    "log_index": entry.get("log_index"),
                },
            }
        else:
            raft[minion] = {"ok": False, "error": "; ".join(entry.get("problems") or [])}
    return raft


# ------------------------------------------------------------------ the repair lock
#
# One JSON file in the master's cache directory, changed only under an exclusive flock (the
# reactor's worker threads and orchestrations run concurrently): {"holder": {target,
# leader, term, started, token} or None, "failures": {target: {count, reason,
# retry_after}}}. Only a verified claim takes it; only the orchestration holding its token
# releases it (the token is rendered into that orchestration, no event carries it).


def _lock_path():
    return os.path.join(__opts__["cachedir"], "onenebula_ha", "repair_lock.json")


def _read_lock():
    return __utils__["onenebula_ha.read_json_object"](_lock_path())


def _update_lock(change):
    """Run ``change(record) -> (record, result)`` under the file lock; return result."""
    path = _lock_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(f"{path}.flock", "a", encoding="utf-8") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            record, result = change(_read_lock())
            temporary = f"{path}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            os.replace(temporary, path)
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)
    return result


def _lock_ttl(settings):
    reactor = (settings or {}).get("reactor") or {}
    ttl = reactor.get("repair_lock_ttl") or _reactor_settings().get("repair_lock_ttl")
    return ttl if _is_number(ttl) and ttl > 0 else 3600


def _confirmed_decision(servers, target, current, force):
    """:func:`_repair_decision` on the view ``current`` and every front-end's database as
    the master finds it now, with a second look at a follower that may be stuck
    (``DEFAULT_CONFIRM_SECONDS`` later)."""
    raft = _raft_from_view(current)
    configured = {
        minion: entry.get("configured_id")
        for minion, entry in (current.get("servers") or {}).items()
    }
    minions = [s["minion"] for s in servers]
    databases = _call(minions, "onenebula_db.health")
    decision = _repair_decision(servers, target, raft, current.get("zone"), force=force,
                                configured=configured, databases=databases)  # fmt: skip
    if not decision["repair"] and "to be confirmed" in (decision["reason"] or ""):
        time.sleep(DEFAULT_CONFIRM_SECONDS)
        later = _call(minions, "onenebula_zone.raft_status")
        decision = _repair_decision(servers, target, raft, current.get("zone"), later=later,
                                    force=force, configured=configured,
                                    databases=databases)  # fmt: skip
    return decision


def _verified_repair(servers, target, current, zone, force, claim, settings):
    """The repair decision for :func:`plan` (from the view it just took), with ``claim``
    the lock taken. Refusals are logged with their reason."""
    decision = _confirmed_decision(servers, target, current, force)
    if decision["repair"] and claim:
        decision = _claim(decision, target, _lock_ttl(settings))
    if not decision["repair"]:
        log.warning("onenebula_ha repair: %s", decision["reason"])
    return decision


def _claim(decision, target, ttl):
    """Take the repair lock for a verified ``decision``; adds its ``token``."""
    token = secrets.token_hex(16)
    now = time.time()

    def take(record):
        free, why = _lock_decision(record, target, now, ttl)
        if not free:
            return record, why
        record = dict(record)
        record["holder"] = {
            "target": target,
            "leader": decision["leader"],
            "term": decision["term"],
            "started": now,
            "token": token,
        }
        return record, None

    refused = _update_lock(take)
    if refused:
        return dict(decision, repair=False, reason=f"no repair of {target} now: {refused}")
    log.warning(
        "onenebula_ha repair: lock taken to repair %s from %s (term %s): %s",
        target, decision["leader"], decision["term"], decision["reason"],
    )  # fmt: skip
    return dict(decision, token=token)


def repair_claim(target, force=False, servers=None, zone=0):
    """
    Decide from fresh queries of every front-end whether ``target`` (a minion id) is
    repaired now, and if so take the repair lock: ``{"repair", "leader", "term",
    "reason", "token"}``. The source is the leader a majority of the front-ends agrees
    on; the target must be in error as that leader sees it (its own oned silent) or stuck
    behind it; the lock must be free and the target not backing off. ``plan repair`` does
    this itself; the orchestration then holds the lock until :func:`repair_release`.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.repair_claim vmm03
    """
    servers, settings = _settings(servers)
    current = view(servers=servers, zone=zone)
    return _verified_repair(servers, target, current, zone, force, True, settings)


def repair_check(target, leader, token, stage, force=False, servers=None, zone=0):
    """
    Check again, right before a destructive step of a repair (``stage``: ``restore`` or
    ``reset``), from fresh queries: this repair still holds the lock, ``leader`` is still
    the leader a majority agrees on, and (before the restore) ``target`` is still broken
    as it sees it. Raises CommandExecutionError (the orchestration stops, and its failure
    step releases the lock) otherwise.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.repair_check vmm03 vmm01 <token> restore
    """
    servers, _ = _settings(servers)
    holder = _read_lock().get("holder") or {}
    if holder.get("token") != token:
        raise CommandExecutionError(f"the repair of {target} no longer holds the repair lock")
    if stage == "restore":
        decision = _confirmed_decision(servers, target, view(servers=servers, zone=zone), force)
        problem = None if decision["repair"] else decision["reason"]
    else:
        agreed = _majority_leader(servers, _raft_from_view(view(servers=servers, zone=zone)))
        problem = agreed["reason"] and f"no agreed leader: {agreed['reason']}"
        decision = {"leader": agreed["leader"]}
        if not problem and agreed["leader"] == target:
            problem = f"{target} is now the leader"
    if not problem and decision["leader"] != leader:
        problem = f"the leader changed from {leader} to {decision['leader']}"
    if problem:
        message = f"repair of {target}, before the {stage}: {problem}"

        def note(record):
            if (record.get("holder") or {}).get("token") == token:
                record = dict(record, holder=dict(record["holder"], problem=message))
            return record, None

        _update_lock(note)
        log.warning("onenebula_ha %s", message)
        raise CommandExecutionError(message)
    return {"result": True, "comment": f"repair of {target}: still needed, from {leader}"}


def _failure_reason(holder, target_entry):
    """Why the repair that ``holder`` describes failed, for the lock record and the log:
    the refusal a check noted, else what the master's fresh look finds wrong with the
    target after the attempt (``target_entry``: its entry of :func:`view`, or None)."""
    holder = holder if isinstance(holder, dict) else {}
    if holder.get("problem"):
        return holder["problem"]
    reason = "a step of the repair orchestration failed"
    entry = target_entry if isinstance(target_entry, dict) else {}
    if entry.get("problems"):
        reason += f"; afterwards {holder.get('target')}: " + "; ".join(entry["problems"])
    elif entry:
        reason += f"; afterwards {holder.get('target')} is {entry.get('state')}"
    return reason


def _target_after(target):
    """The target's entry of a fresh :func:`view`, or None when it cannot be taken."""
    if not target:
        return None
    try:
        return view()["servers"].get(target)
    except SaltException as exc:
        log.warning("onenebula_ha repair: no fresh look at %s after it failed: %s", target, exc)
        return None


def repair_release(token, ok=True):
    """
    Release the repair lock held by the orchestration with ``token``, recording the
    outcome: after a failure that target backs off (30 s, doubling, at most 10 min) and
    the reason is logged and kept in the lock record (the check that refused, else what
    is wrong with the target after the attempt, from a fresh look). A token that does
    not hold the lock releases nothing.

    CLI Example:

    .. code-block:: bash

        salt-run onenebula_ha.repair_release <token> ok=False
    """
    now = time.time()
    after = None
    if not ok:
        holder = _read_lock().get("holder") or {}
        if holder.get("token") == token and not holder.get("problem"):
            after = _target_after(holder.get("target"))

    def release(record):
        reason = _failure_reason(record.get("holder"), after)
        return _released(record, token, bool(ok), reason, now)

    message = _update_lock(release)
    (log.info if ok else log.warning)("onenebula_ha repair: %s", message)
    return {"result": True, "comment": message}
