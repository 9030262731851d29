"""
States for this host's ``oned.conf`` (OpenNebula template syntax), edited in place so
the rest of the file and its comments stay as they are.

Changing any of these needs an oned restart to take effect; ``watch`` the state from
the service state. Secret sub-keys (``DB/PASSWD``) are masked in changes and comments.

.. code-block:: yaml

    oned-server-id:
      onenebula_conf.server_id:
        - name: 2

    oned-raft:
      onenebula_conf.raft:
        - election_timeout_ms: 1500
        - broadcast_timeout_ms: 250
"""

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_conf"

#: Default of the ``raft`` state's keys: the value OpenNebula ships in oned.conf.
SHIPPED = "shipped"


def __virtual__():
    return __utils__["onenebula_ha.needs_function"](__virtualname__, __salt__, "onenebula_conf.set")


def _ret(name):
    return {"name": name, "changes": {}, "result": False, "comment": ""}


def _path(path, name=None):
    """The file to edit: ``path``, else ``name`` when it is a path, else the module default."""
    if path:
        return path
    if isinstance(name, str) and name.startswith("/"):
        return name
    return None


def _missing(path):
    """The resolved file path when it does not exist yet, else None."""
    resolved = path or __salt__["onenebula_conf.default_path"]()
    return None if os.path.exists(resolved) else resolved


def _apply_section(ret, section, values, path):
    """Shared body of the section-shaped states."""
    missing = _missing(path)
    if missing:
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{missing} does not exist yet; {section} would be written"
            ret["changes"] = {section: {"old": None, "new": "set"}}
        else:
            ret["comment"] = f"{missing} does not exist"
        return ret
    try:
        diff = __salt__["onenebula_conf.differences"](section, values, path=path)
        if not diff["old"] and not diff["new"]:
            ret["result"] = True
            ret["comment"] = f"{section} is already as wanted"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{section} would be updated"
            ret["changes"] = {section: diff}
            return ret
        __salt__["onenebula_conf.set_section"](section, values, path=path)
    except CommandExecutionError as exc:
        ret["comment"] = f"Failed to update {section}: {exc}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{section} updated"
    ret["changes"] = {section: diff}
    return ret


def server_id(name, path=None, value=None):
    """
    Ensure ``FEDERATION/SERVER_ID`` in oned.conf is the given integer (the ID
    ``onezone server-add`` gave this server; -1 means solo).

    The ID is ``value`` when given, else ``name``. Prefer ``value`` in SLS files: Salt
    drops a ``name`` that YAML reads as an integer (``- name: 2``) and uses the state ID
    instead, while ``- value: 2`` works as written.

    .. code-block:: yaml

        oned-server-id:
          onenebula_conf.server_id:
            - value: 1
    """
    wanted = name if value is None else value
    ret = _ret(str(name))
    try:
        wanted = int(wanted)
    except (TypeError, ValueError):
        ret["comment"] = (
            f"SERVER_ID must be an integer, not {wanted!r} (Salt replaces a name that is "
            "not a string with the state ID: write '- value: 2' or quote it, '- name: \"2\"')"
        )
        return ret
    missing = _missing(path)
    if missing:
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{missing} does not exist yet; SERVER_ID would be set to {wanted}"
            ret["changes"] = {"server_id": {"old": None, "new": wanted}}
        else:
            ret["comment"] = f"{missing} does not exist"
        return ret
    try:
        current = __salt__["onenebula_conf.get"]("FEDERATION/SERVER_ID", path=path)
        if current is not None and current.strip() == str(wanted):
            ret["result"] = True
            ret["comment"] = f"FEDERATION/SERVER_ID is already {wanted}"
            return ret
        try:
            old = int(current) if current is not None else None
        except ValueError:
            old = current
        ret["changes"] = {"server_id": {"old": old, "new": wanted}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"FEDERATION/SERVER_ID would be set to {wanted}"
            return ret
        __salt__["onenebula_conf.set"]("FEDERATION/SERVER_ID", wanted, path=path)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        ret["comment"] = f"Failed to set FEDERATION/SERVER_ID: {exc}"
        return ret
    ret["result"] = True
    ret["comment"] = f"FEDERATION/SERVER_ID set to {wanted}"
    return ret


def raft(
    name,
    path=None,
    limit_purge=SHIPPED,
    log_retention=SHIPPED,
    log_purge_timeout=SHIPPED,
    election_timeout_ms=SHIPPED,
    broadcast_timeout_ms=SHIPPED,
    xmlrpc_timeout_ms=SHIPPED,
):
    """
    Ensure the ``RAFT`` block of oned.conf holds exactly these six keys. Keys not given
    (``"shipped"``) take the values OpenNebula ships in oned.conf (``shipped_raft`` of the
    formula's utils, ``_utils/onenebula_ha.py``); oned does not fill in keys missing from
    a RAFT block that exists, so all six are always written.

    ``name`` is a label, or the file path when it starts with ``/`` and ``path`` is not
    given.

    .. code-block:: yaml

        oned-raft:
          onenebula_conf.raft:
            - election_timeout_ms: 1500
            - broadcast_timeout_ms: 250
            - xmlrpc_timeout_ms: 500
    """
    ret = _ret(name)
    given = {
        "LIMIT_PURGE": limit_purge,
        "LOG_RETENTION": log_retention,
        "LOG_PURGE_TIMEOUT": log_purge_timeout,
        "ELECTION_TIMEOUT_MS": election_timeout_ms,
        "BROADCAST_TIMEOUT_MS": broadcast_timeout_ms,
        "XMLRPC_TIMEOUT_MS": xmlrpc_timeout_ms,
    }
    values = __utils__["onenebula_ha.shipped_raft"]()
    values.update({key: value for key, value in given.items() if value != SHIPPED})
    for key, value in values.items():
        try:
            values[key] = int(value)
        except (TypeError, ValueError):
            ret["comment"] = f"RAFT/{key} must be an integer, not {value!r}"
            return ret
        if values[key] < 0:
            ret["comment"] = f"RAFT/{key} must not be negative"
            return ret
    return _apply_section(ret, "RAFT", values, _path(path, name))


def section(name, values, path=None):
    """
    Ensure the vector attribute ``name`` (e.g. ``RAFT_LEADER_HOOK``, ``DB``) holds
    exactly ``values``. Secret sub-keys are masked in the changes.

    .. code-block:: yaml

        oned-leader-hook:
          onenebula_conf.section:
            - name: RAFT_LEADER_HOOK
            - values:
                COMMAND: raft/vip.sh
                ARGUMENTS: leader eth0 10.213.0.100/24
    """
    ret = _ret(name)
    if not isinstance(values, dict) or not values:
        ret["comment"] = "values must be a non-empty dict of sub-keys"
        return ret
    return _apply_section(ret, str(name).upper(), values, path)


def value(name, value, path=None):  # pylint: disable=redefined-outer-name
    """
    Ensure ``name`` (``KEY`` or ``SECTION/KEY``) in oned.conf is ``value``.

    .. code-block:: yaml

        oned-listen-address:
          onenebula_conf.value:
            - name: LISTEN_ADDRESS
            - value: 0.0.0.0
    """
    ret = _ret(name)
    missing = _missing(path)
    if missing:
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{missing} does not exist yet; {name} would be set"
            ret["changes"] = {name: {"old": None, "new": "set"}}
        else:
            ret["comment"] = f"{missing} does not exist"
        return ret
    secret = str(name).upper().rsplit("/", 1)[-1] in ("PASSWD", "PASSWORD")
    try:
        current = __salt__["onenebula_conf.get"](name, path=path, reveal=True)
        would_change = __salt__["onenebula_conf.set"](name, value, path=path, test=True)
        if not would_change:
            ret["result"] = True
            ret["comment"] = f"{name} is already as wanted"
            return ret
        shown_old = "********" if secret and current is not None else current
        shown_new = "********" if secret else value
        ret["changes"] = {name: {"old": shown_old, "new": shown_new}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{name} would be updated"
            return ret
        __salt__["onenebula_conf.set"](name, value, path=path)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        ret["comment"] = f"Failed to set {name}: {exc}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{name} updated"
    return ret


def absent(name, path=None):
    """
    Ensure ``name`` (``KEY``, a whole vector, or ``SECTION/KEY``) is not in oned.conf.

    .. code-block:: yaml

        oned-no-follower-hook:
          onenebula_conf.absent:
            - name: RAFT_FOLLOWER_HOOK
    """
    ret = _ret(name)
    missing = _missing(path)
    if missing:
        ret["result"] = True
        ret["comment"] = f"{missing} does not exist; nothing to remove"
        return ret
    try:
        if not __salt__["onenebula_conf.unset"](name, path=path, test=True):
            ret["result"] = True
            ret["comment"] = f"{name} is already absent"
            return ret
        ret["changes"] = {name: {"old": "present", "new": None}}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{name} would be removed"
            return ret
        __salt__["onenebula_conf.unset"](name, path=path)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        ret["comment"] = f"Failed to remove {name}: {exc}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{name} removed"
    return ret
