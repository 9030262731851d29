"""One follower join with an OpenNebula database of ~100 MB, beside a raw dump | restore.

On a deployed 5-front-end lab: the leader's database gets ``DB_MB`` of generated rows in
OpenNebula's tables (``host_pool``, ``vm_pool``, ``history``; bodies are XML documents
shaped like oned's, ids far above what oned allocates); a follower is removed with
``onenebula_ha.orch.remove`` and joined again with ``onenebula_ha.orch.add``, timed.

* the figure: the join's own steps (fresh backup on the leader, restore on the follower,
  server-add, SERVER_ID and start, wait until it is a caught-up follower), from the
  orchestration's step durations; the whole ``orch.add`` (SSH key, base state first) is
  reported beside it;
* the baseline, same run, same two hosts: ``mariadb-dump`` of the leader's database piped
  into ``mariadb`` on the follower (into a scratch database, dropped afterwards).

Goal (issue 11): join <= 1.3 x raw + 10 s.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time

from bench import _lab
from bench._support import main
from onelab.demo import orchestration_results

DB_MB = 100
GOAL_FACTOR, GOAL_EXTRA_S = 1.3, 10.0
#: Generated rows get ids from here on (oned allocates from its pool_control counters).
FIRST_ID = 1_000_000
HOSTS = 200
HISTORY_PER_VM = 2
SCRATCH_DB = "bench_raw_copy"
CHUNK_BYTES = 4 * 2**20  # one mariadb client per chunk; below max_allowed_packet

_EXTRA_TABLES = (
    "CREATE TABLE IF NOT EXISTS host_pool (oid INTEGER PRIMARY KEY, name VARCHAR(128), "
    "body MEDIUMTEXT, state INTEGER, uid INTEGER, gid INTEGER, owner_u INTEGER, "
    "group_u INTEGER, other_u INTEGER, cid INTEGER);\n"
    "CREATE TABLE IF NOT EXISTS history (vid INTEGER, seq INTEGER, body MEDIUMTEXT, "
    "stime INTEGER, etime INTEGER, PRIMARY KEY(vid, seq));\n"
)


def _sql_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _padding(rng: random.Random, size: int) -> str:
    """``size`` characters of attribute-like text (random, so it does not compress away)."""
    words = []
    while sum(len(w) for w in words) < size:
        words.append(f'<ATTR_{rng.randrange(10**6)}><![CDATA[{rng.getrandbits(256):x}]]>'
                     f"</ATTR_{len(words)}>")  # fmt: skip
    return "".join(words)[:size]


def host_body(oid: int, rng: random.Random) -> str:
    return (
        f"<HOST><ID>{oid}</ID><NAME>kvm{oid:05d}</NAME><STATE>2</STATE><IM_MAD>kvm</IM_MAD>"
        f"<VM_MAD>kvm</VM_MAD><CLUSTER_ID>0</CLUSTER_ID><HOST_SHARE><MEM_USAGE>0</MEM_USAGE>"
        f"</HOST_SHARE><TEMPLATE>{_padding(rng, 4000)}</TEMPLATE></HOST>"
    )


def vm_body(oid: int, host: int, rng: random.Random) -> str:
    return (
        f"<VM><ID>{oid}</ID><UID>0</UID><GID>0</GID><NAME>bench-{oid}</NAME><STATE>3</STATE>"
        f"<LCM_STATE>3</LCM_STATE><HISTORY_RECORDS><HISTORY><HOSTNAME>kvm{host:05d}</HOSTNAME>"
        f"</HISTORY></HISTORY_RECORDS><TEMPLATE>{_padding(rng, 5000)}</TEMPLATE>"
        f"<USER_TEMPLATE>{_padding(rng, 1000)}</USER_TEMPLATE></VM>"
    )


def history_body(vid: int, seq: int, host: int, rng: random.Random) -> str:
    return (
        f"<HISTORY><OID>{vid}</OID><SEQ>{seq}</SEQ><HOSTNAME>kvm{host:05d}</HOSTNAME>"
        f"<HID>{host}</HID><VM>{_padding(rng, 1800)}</VM></HISTORY>"
    )


def generated_sql(total_mb: float, seed: int = 11):
    """SQL chunks (each a few MB of multi-row INSERTs) adding about ``total_mb`` of rows."""
    rng = random.Random(seed)
    yield _EXTRA_TABLES
    rows, size = [], 0

    def flush(table: str, columns: str):
        nonlocal rows, size
        text = f"INSERT INTO {table} ({columns}) VALUES\n" + ",\n".join(rows) + ";\n"
        rows, size = [], 0
        return text

    host_cols = "oid, name, body, state, uid, gid, owner_u, group_u, other_u, cid"
    for index in range(HOSTS):
        oid = FIRST_ID + index
        rows.append(
            f"({oid}, 'kvm{oid:05d}', {_sql_text(host_body(oid, rng))}, 2, 0, 0, 1, 0, 0, 0)"
        )
    yield flush("host_pool", host_cols)
    budget = total_mb * 2**20 - HOSTS * 4200
    per_vm = 6300 + HISTORY_PER_VM * 2000
    vms = max(1, int(budget / per_vm))
    vm_cols = "oid, name, body, uid, gid, state, lcm_state, owner_u, group_u, other_u"
    hist_cols = "vid, seq, body, stime, etime"
    history = []
    for index in range(vms):
        oid, host = FIRST_ID + index, FIRST_ID + index % HOSTS
        body = _sql_text(vm_body(oid, host, rng))
        rows.append(f"({oid}, 'bench-{oid}', {body}, 0, 0, 3, 3, 1, 0, 0)")
        size += len(body)
        for seq in range(HISTORY_PER_VM):
            hbody = _sql_text(history_body(oid, seq, host, rng))
            history.append(f"({oid}, {seq}, {hbody}, {1700000000 + index}, 0)")
        if size >= CHUNK_BYTES:
            yield flush("vm_pool", vm_cols)
            rows, history = history, []
            yield flush("history", hist_cols)
    if rows:
        yield flush("vm_pool", vm_cols)
    if history:
        rows = history
        yield flush("history", hist_cols)


def _mariadb(host, database: str, sql: str, timeout: float = 600) -> str:
    done = host.run(["mariadb", "--batch", "--skip-column-names", database], input=sql,
                    timeout=timeout, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"mariadb on {host.name}: {done.stderr[-1000:]}")
    return done.stdout


def db_bytes(host, database: str) -> int:
    """InnoDB's size of ``database``, its statistics refreshed first: right after a fast
    fill information_schema still shows the old estimate (9.2 MB for ~75 MB on 28 Nov)."""
    where = f"WHERE table_schema = {_sql_text(database)}"
    tables = _mariadb(
        host, database, f"SELECT table_name FROM information_schema.tables {where} "
        "AND table_type = 'BASE TABLE';"
    ).split()  # fmt: skip
    if tables:
        _mariadb(host, database, "ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables) + ";")
    out = _mariadb(
        host,
        database,
        f"SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables {where};",
    )
    return int(out.split()[0])


def fill(host, database: str, total_mb: float) -> dict:
    started = time.monotonic()
    sent = 0
    for chunk in generated_sql(total_mb):
        _mariadb(host, database, chunk)
        sent += len(chunk)
    return {"sql_mb": round(sent / 2**20, 1), "seconds": round(time.monotonic() - started, 1)}


def raw_copy(source, target, database: str) -> float:
    """Seconds of ``mariadb-dump DB`` on ``source`` piped into ``mariadb`` on ``target``."""
    _mariadb(
        target, "mysql", f"DROP DATABASE IF EXISTS {SCRATCH_DB}; CREATE DATABASE {SCRATCH_DB};"
    )
    started = time.monotonic()
    dump = subprocess.Popen(
        [*source.enter_argv(), "mariadb-dump", "--single-transaction", database],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    load = subprocess.run(
        [*target.enter_argv(), "mariadb", SCRATCH_DB],
        stdin=dump.stdout,
        capture_output=True,
        check=False,
    )
    dump.stdout.close()
    dump_err = dump.stderr.read()
    dump.wait()
    seconds = time.monotonic() - started
    if dump.returncode or load.returncode:
        raise RuntimeError(f"raw copy failed: dump {dump_err[-500:]!r} load {load.stderr[-500:]!r}")
    return seconds


def orchestrate(demo, sls: str, target: str) -> tuple[float, dict]:
    started = time.monotonic()
    data = demo.runner(
        "state.orchestrate", sls, "pillar=" + json.dumps({"target": target}), timeout=1800
    )
    seconds = time.monotonic() - started
    results = orchestration_results(data)
    failed = [r.get("name") for r in results.values() if r.get("result") is not True]
    if failed:
        raise RuntimeError(f"{sls} failed at {failed}: {str(data)[-3000:]}")
    return seconds, results


def step_seconds(results: dict) -> dict[str, float]:
    """Step id suffix -> seconds, in run order."""
    out = {}
    for state_id, result in results.items():
        name = _lab.step_name(state_id)
        out[name] = round((result.get("duration") or 0) / 1000, 2)
    return out


def join_profile(results: dict) -> dict:
    """Where the join's time goes: per join step its seconds, the seconds its states
    took on the minions (the rest is Salt's own cost of running a state step: the job,
    rendering, the returns) and its slowest states."""
    from bench.deploy import profile

    steps = {}
    for state_id, result in results.items():
        name = _lab.step_name(state_id)
        if not name.startswith("join-"):
            continue
        changes = result.get("changes") or {}
        states = [
            (state_key, state)
            for ret in (changes.get("ret") or {}).values()
            if isinstance(ret, dict)
            for state_key, state in ret.items()
            if isinstance(state, dict)
        ]
        inside = sum((state.get("duration") or 0) / 1000 for _, state in states)
        steps[name] = {"states_s": round(inside, 2)}
        # the restore says where its own time went (pulled in .. s, restored in .. s)
        said = [s.get("comment") for key, s in states if "restored_from_leader" in key]
        if said:
            steps[name]["restore_comment"] = str(said[0])[:300]
    for row in profile(results)["steps"]:
        if row["step"] in steps:
            steps[row["step"]].update(seconds=row["seconds"], slowest=row["slowest"])
    return steps


def measure(demo, total_mb: float = DB_MB) -> dict:
    lab = demo.lab
    settings = demo.pillar["onenebula_ha"]
    database = settings["database"]["name"]
    leader = demo.runner("onenebula_ha.status")["leader"]
    servers = [s["minion"] for s in settings["servers"]]
    joiner = [m for m in servers if m != leader][-1]
    source, target = lab.frontend(leader), lab.frontend(joiner)
    machine_before = _lab.machine()
    filled = fill(source, database, total_mb)
    size = db_bytes(source, database)
    remove_s, _ = orchestrate(demo, "onenebula_ha.orch.remove", joiner)
    try:
        raw_s = raw_copy(source, target, database)
    finally:
        _mariadb(target, "mysql", f"DROP DATABASE IF EXISTS {SCRATCH_DB};")
    add_s, results = orchestrate(demo, "onenebula_ha.orch.add", joiner)
    steps = step_seconds(results)
    join_s = round(sum(s for name, s in steps.items() if name.startswith("join-")), 2)
    goal_s = round(GOAL_FACTOR * raw_s + GOAL_EXTRA_S, 2)
    return {
        "figure": "one follower join (orch.add's join steps: backup .. caught-up follower)",
        "leader": leader,
        "joiner": joiner,
        "db_mb": round(size / 2**20, 1),
        "generated": filled,
        "join_s": join_s,
        "add_orchestration_s": round(add_s, 2),
        "steps_s": steps,
        "join_profile": join_profile(results),
        "baseline": "mariadb-dump on the leader | mariadb on the joiner (scratch DB)",
        "raw_copy_s": round(raw_s, 2),
        "goal": f"join <= {GOAL_FACTOR} x raw + {GOAL_EXTRA_S:.0f} s",
        "goal_s": goal_s,
        "goal_met": join_s <= goal_s,
        "whole_add_within_goal": add_s <= goal_s,
        "remove_orchestration_s": round(remove_s, 2),
        "machine_before": machine_before,
        "machine_after": _lab.machine(),
    }


def summary(result: dict) -> str:
    return (
        f"follower_join: join {result['join_s']} s (whole orch.add "
        f"{result['add_orchestration_s']} s) of a {result['db_mb']} MB DB; baseline raw "
        f"dump|restore {result['raw_copy_s']} s; goal <= {result['goal_s']} s"
    )


def run(total_mb: float | None = None) -> dict:
    if total_mb is None:
        total_mb = float(os.environ.get("BENCH_JOIN_DB_MB", DB_MB))
    started = time.monotonic()
    with _lab.deployed() as demo:
        result = measure(demo, total_mb)
    return _lab.report("follower_join", result, summary, started=started)


if __name__ == "__main__":
    main("follower_join", run, __doc__)
