"""
The formula's settings as ``onenebula_ha/map.jinja`` exports them, computed once per run,
and the facts about this host that ``onenebula_ha/libha.jinja`` exports.

The merge is template-formula's (later wins)::

    defaults.yaml
    < osfamilymap.yaml[grains.os_family]
    < platforms.yaml's layer for onenebula_ha:version/edition on this OS (onenebula_platform.layer)
    < pillar onenebula_ha:lookup
    < pillar onenebula_ha

then measured and validated (``onenebula_pillar.settings``). The three YAML files stay in the
state tree for operators to read and override (a file root before the formula's wins, as
with ``import_yaml``).

Why in Python: Salt renders every SLS file in a fresh Jinja environment, so a
``map.jinja`` that imports three YAML files has them fetched from the master (one round trip
each) and compiled as Jinja templates again in every SLS file of a run: 13 SLS files of
``onenebula_ha`` made 52 of its 80 compilations. Here the files are read once, and the result
is kept in ``__context__`` (which a state run copies for itself: it lives as long as the
run) under a fingerprint of everything it depends on, the raw ``onenebula_ha`` pillar, the
grains, the state tree root and the saltenv. So a pillar passed on the command line or by an
orchestration, or another minion's grains, never meets another run's settings. The facts are
derived in Python for the same reason (each SLS file compiled ``libha.jinja`` again); they
read oned.conf, so they are not cached.

:func:`files_switch` picks a template the TOFS way (``libtofs.jinja``) from the master's
file list, asked once per run: given the list of candidates, each ``file.managed`` asked
the master for its whole file and directory lists again (two round trips per state).
"""

import copy
import hashlib
import json

import salt.utils.dictupdate
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_map"

ROOT = "onenebula_ha"
FILES = ("defaults.yaml", "osfamilymap.yaml", "platforms.yaml")
CONTEXT_KEY = "onenebula_map.settings"
FILE_LIST_KEY = "onenebula_map.file_list"


def __virtual__():
    # Pure Python: always loadable (map.jinja also renders on the master for orchestrations).
    return __virtualname__


def _pillar(key):
    # Salt 3008 masks pillar values outside a render unless asked not to; inside one (where
    # map.jinja calls this) both give the plain values.
    try:
        return __salt__["pillar.get"](key, {}, unmask=True)
    except TypeError:  # Salt before 3008: no masking, no unmask argument
        return __salt__["pillar.get"](key, {})


def _read_yaml(tplroot, name, saltenv):
    source = f"salt://{tplroot}/{name}"
    text = __salt__["cp.get_file_str"](source, saltenv=saltenv)
    if text is False or text is None:
        raise CommandExecutionError(f"onenebula_ha: {source} not found (saltenv {saltenv})")
    return salt.utils.yaml.safe_load(text) or {}


def _fingerprint(*parts):
    """A digest of ``parts`` (JSON), or None when they cannot be serialised (then nothing
    is cached). Called only on a pillar that passed the size limits."""
    try:
        text = json.dumps(parts, default=repr)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _computed(tplroot, saltenv, pillar, grains):
    """The settings afresh: the three YAML files read, merged, validated."""
    defaults, osfamilymap, platforms = (_read_yaml(tplroot, name, saltenv) for name in FILES)
    default_settings = defaults.get(ROOT) or {}
    # Two single keys read before the pillar is measured, as map.jinja always did: the
    # layer checks their types itself, and a pillar that is not a mapping keeps the defaults.
    section = pillar if isinstance(pillar, dict) else {}
    platform = __salt__["grains.filter_by"](osfamilymap, grain="os_family") or {}
    one_platform = __salt__["onenebula_platform.layer"](
        platforms,
        section.get("version", default_settings.get("version")),
        section.get("edition", default_settings.get("edition")),
        grains,
    )
    platform = salt.utils.dictupdate.merge(
        platform, one_platform, strategy="recurse", merge_lists=False
    )
    return __salt__["onenebula_pillar.settings"](default_settings, platform, pillar)


def settings(tplroot=ROOT, saltenv="base"):
    """
    The formula's settings for this minion (what ``map.jinja`` exports as ``onenebula_ha``):
    the YAML files read, merged
    and validated once per state run, and then answered from ``__context__``
    while the raw pillar, the grains, ``tplroot`` and ``saltenv`` are the same. Each call
    returns its own copy (an SLS file may change what it got without touching the next
    file's). A pillar that fails validation is never cached: every render that asks fails
    with the same message.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_map.settings
        salt vmm01 onenebula_map.settings tplroot=onenebula_ha saltenv=base
    """
    pillar = _pillar(ROOT)
    grains = {name: __grains__[name] for name in __grains__}
    key = None
    # The size limits first: a pillar is fingerprinted (walked) only once it passed them;
    # one that fails goes to the validation, which reports it.
    if __salt__["onenebula_pillar.problem"](pillar) is None:
        key = _fingerprint(tplroot, saltenv, pillar, grains)
    cached = __context__.get(CONTEXT_KEY)
    if key is not None and cached and cached[0] == key:
        return copy.deepcopy(cached[1])
    result = _computed(tplroot, saltenv, pillar, grains)
    if key is not None:
        __context__[CONTEXT_KEY] = (key, copy.deepcopy(result))
    return result


def _jinja_int(text, default):
    """Jinja's ``int`` filter (what libha.jinja applied to oned.conf's SERVER_ID)."""
    try:
        return int(text)
    except (TypeError, ValueError):
        try:
            return int(float(text))
        except (TypeError, ValueError, OverflowError):
            return default


def _conf_server_id(oned_conf):
    """FEDERATION/SERVER_ID in oned.conf as an int, or None (no file, no key, not a number)."""
    if not __salt__["file.file_exists"](oned_conf):
        return None
    raw = __salt__["onenebula_conf.get"]("FEDERATION/SERVER_ID", path=oned_conf)
    if raw is None:
        return None
    return _jinja_int(str(raw).strip(), None)


def _run():
    run = _pillar("onenebula_ha_run")
    if not isinstance(run, dict):
        raise CommandExecutionError("onenebula_ha_run: must be a mapping (the step's arguments)")
    return run


def facts(settings):
    """
    Facts about this host that several SLS files need (what ``libha.jinja`` exports),
    derived from the validated ``settings`` (:func:`settings`), this minion's id, oned.conf
    and the pillar ``onenebula_ha_run`` an orchestration passes to a step:

    ``this_server`` (this minion's entry of ``servers``, or None), ``conf_server_id``
    (FEDERATION/SERVER_ID now in oned.conf, None if unreadable), ``is_member`` (that id is
    already this server's pillar id: the ha/ steps set it only after the DB restore and
    server-add), ``run``, ``source_leader`` (the leader the step names, else the first
    server), ``ssh_hosts`` ({minion: address, else name}), ``vip_ip`` (without prefix, ''
    without a VIP), ``hook_arguments`` ({'leader': 'leader <iface> <vip>', 'follower': …}),
    ``hooks_enabled``, ``failover_dir``, ``manifest_path``, ``backup_path``.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_map.facts "$(salt vmm01 onenebula_map.settings --out=json | jq .vmm01)"
    """
    servers = settings["servers"]
    minion = __opts__["id"]
    this_server = next((s for s in servers if s.get("minion") == minion), None)
    conf_server_id = _conf_server_id(settings["paths"]["oned_conf"])
    run = _run()
    vip = settings["vip"]
    vip_args = f" {vip['interface']} {vip['address']}" if vip["enabled"] else ""
    return {
        "this_server": this_server,
        "conf_server_id": conf_server_id,
        "is_member": this_server is not None and conf_server_id == this_server["id"],
        "run": run,
        "source_leader": run.get("leader") or servers[0]["minion"],
        "ssh_hosts": {s["minion"]: s.get("address") or s["name"] for s in servers},
        "vip_ip": vip["address"].split("/")[0] if vip["enabled"] else "",
        "hook_arguments": {"leader": "leader" + vip_args, "follower": "follower" + vip_args},
        "hooks_enabled": bool(
            vip["enabled"] or settings["hooks"]["failover_scripts"] or settings["leader_services"]
        ),
        "failover_dir": settings["paths"]["hooks_dir"] + "/raft/failover.d",
        "manifest_path": settings["deploy"]["backup_dir"] + "/secrets.sha256",
        "backup_path": settings["deploy"]["backup_dir"] + "/leader.sql",
    }


def files_switch(directory, name, saltenv="base"):
    """
    The first of ``salt://<directory>/<minion id>/<name>``,
    ``salt://<directory>/<os_family grain>/<name>`` and ``salt://<directory>/<name>`` (the
    template the formula ships) that the file server holds, the way ``file.managed``
    chooses from a list of sources; the shipped one when none does. The master's file list
    is read once per run (``__context__``).

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_map.files_switch onenebula_ha/hooks/files sudoers.jinja
    """
    candidates = [
        f"{directory}/{value}/{name}"
        for value in (__opts__.get("id"), __grains__.get("os_family"))
        if value
    ] + [f"{directory}/{name}"]
    listed = __context__.get(FILE_LIST_KEY, {}).get(saltenv)
    if listed is None:
        listed = frozenset(__salt__["cp.list_master"](saltenv=saltenv) or ())
        __context__.setdefault(FILE_LIST_KEY, {})[saltenv] = listed
    chosen = next((path for path in candidates if path in listed), candidates[-1])
    return f"salt://{chosen}"
