"""
The Raft hook's VIP action, run at the sink only while this host's own oned still agrees.

``orch.remediate_vip`` decides from every front-end's answers who releases the VIP and
who claims it (``salt-run onenebula_ha.vip_plan``). Those answers are not one snapshot:
a minion that was frozen answers seconds after the others, so a plan can rest on a view
that is already gone when its steps run (seen in the lab: a plan made while the old
leader's host was frozen named it leader of its old term, and told the new leader, which
by then held the VIP under its fencing agent's lease, to release it; the release also
stopped its leader-only services). So each step asks this host's oned again, right before
it acts, and runs the hook only when that fresh answer still fits the plan:

* ``leader`` (claim): only while the local oned is the leader of the plan's term;
* ``follower`` (release): not while the local oned leads the plan's term or a newer one
  (that host was elected after the plan was made); a host whose oned does not answer
  releases, as OpenNebula's follower hook would.

A refused step changes nothing and says why; the newer term's own role event starts its
own check. The hook runs without a shell, as ``runas`` through util-linux's ``runuser``
(as oned runs it), and every argument has a strict grammar.
"""

import ipaddress
import logging
import os
import re

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_vip"

ACTIONS = ("leader", "follower")
# Linux interface name: at most 15 characters (IFNAMSIZ), no '/', ':' or whitespace.
INTERFACE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
# An absolute path of plain name characters (no '..' component, checked apart).
SCRIPT_RE = re.compile(r"(/[A-Za-z0-9_.+-]+)+")
# POSIX user name, as useradd accepts by default.
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def __virtual__():
    if "onenebula_zone.raft_status" not in __salt__:
        return False, "onenebula_vip needs onenebula_zone (onezone installed, modules synced)"
    return __virtualname__


def _checked(action, term, interface, address, script, runas):
    """The arguments, each refused by name when it does not fit its grammar."""
    if action not in ACTIONS:
        raise CommandExecutionError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    if isinstance(term, bool) or not isinstance(term, int) or term < 0:
        raise CommandExecutionError(f"term: {term!r} is not a Raft term (an integer >= 0)")
    if not isinstance(interface, str) or not INTERFACE_RE.fullmatch(interface):
        raise CommandExecutionError(f"interface: {interface!r} is not an interface name")
    try:
        parsed = ipaddress.ip_interface(address) if isinstance(address, str) else None
    except ValueError:
        parsed = None
    if parsed is None or "/" not in address or str(parsed) != address:
        raise CommandExecutionError(f"address: {address!r} is not an address/prefix")
    if not isinstance(script, str) or not SCRIPT_RE.fullmatch(script) or ".." in script.split("/"):
        raise CommandExecutionError(f"script: {script!r} is not an absolute path")
    if runas is not None and (not isinstance(runas, str) or not USER_RE.fullmatch(runas)):
        raise CommandExecutionError(f"runas: {runas!r} is not a user name")


def _refusal(action, term, status):
    """Why the fresh local answer does not fit the plan (None: it does)."""
    if status is None:
        if action == "leader":
            return "the local oned does not answer: no claim"
        return None  # nothing here leads: release, as the follower hook would
    state, now = status.get("state_name"), status.get("term")
    if not isinstance(now, int):
        return f"the local oned reports no valid term ({now!r})"
    if action == "leader" and (state != "leader" or now != term):
        return f"the local oned is {state} in term {now}, not the leader of term {term}: no claim"
    if action == "follower" and state == "leader" and now >= term:
        return f"the local oned leads term {now} (the plan was made for term {term}): not released"
    return None


def hook(action, term, interface, address, script, runas=None, timeout=2):
    """
    Run the Raft hook ``script``'s ``leader`` (claim) or ``follower`` (release) action for
    the VIP ``address`` on ``interface``, only if this host's oned, asked now, still fits the plan
    made for Raft ``term`` (see the module docstring).

    Returns ``{"ran": True, "retcode": 0, "output": ...}``, or ``{"ran": False, "reason":
    ...}`` when the fresh answer refused the step (nothing changed). Raises
    CommandExecutionError on a bad argument or when the hook fails.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_vip.hook leader 7 eth0 10.0.0.100/24 \\
            /var/lib/one/remotes/hooks/ha/failover.sh runas=oneadmin
    """
    _checked(action, term, interface, address, script, runas)
    try:
        status = __salt__["onenebula_zone.raft_status"](timeout=timeout)
    except CommandExecutionError as exc:
        log.info("onenebula_vip: the local oned did not answer: %s", exc)
        status = None
    why = _refusal(action, term, status)
    if why:
        log.info("onenebula_vip: %s hook for %s not run: %s", action, address, why)
        return {"ran": False, "reason": why}
    if not os.access(script, os.X_OK):
        raise CommandExecutionError(f"script: {script} is not an executable file on this host")
    command = [script, action, interface, address]
    if runas and runas != "root":
        # As oned runs the hook: as its user. runuser, not Salt's runas, which first runs
        # the minion's own Python as that user (and fails where it cannot read it).
        command = ["runuser", "-u", runas, "--", *command]
    result = __salt__["cmd.run_all"](command, python_shell=False, cwd="/", ignore_retcode=True)
    if result["retcode"] != 0:
        raise CommandExecutionError(
            f"{action} hook exited with {result['retcode']}: {result['stderr'][-500:]}"
        )
    return {"ran": True, "retcode": 0, "output": result["stdout"][-2000:]}
