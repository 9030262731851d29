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

import salt.utils.data
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_conf"

#: Default of the ``raft`` state's keys: the value OpenNebula ships in oned.conf.
SHIPPED = "shipped"


def __virtual__():
    if "onenebula_conf.set" in __salt__:
        return __virtualname__
    return __utils__["onenebula_ha.not_loaded"](__virtualname__, "onenebula_conf")


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


def _converge(ret, path, messages, check, apply, missing_changes=None):
    """
    The body every state here shares: check, then ``__opts__["test"]``, then act.

    ``check()`` returns the changes to make (empty when the file is already as wanted),
    ``apply()`` makes them; both may raise CommandExecutionError. ``messages`` holds the
    comments: ``already``, ``would``, ``done``, ``failed`` (followed by the error) and
    ``missing`` (what a test run predicts while the file does not exist yet, with
    ``missing_changes``). Without ``missing_changes`` a missing file means there is
    nothing to do (``absent``).
    """
    missing = _missing(path)
    if missing:
        if missing_changes is None:
            ret["result"] = True
            ret["comment"] = f"{missing} does not exist; {messages['missing']}"
        elif __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"{missing} does not exist yet; {messages['missing']}"
            ret["changes"] = missing_changes
        else:
            ret["comment"] = f"{missing} does not exist"
        return ret
    try:
        changes = check()
        if not changes:
            ret["result"] = True
            ret["comment"] = messages["already"]
            return ret
        ret["changes"] = changes
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = messages["would"]
            return ret
        apply()
    except CommandExecutionError as exc:
        ret["changes"] = {}
        ret["comment"] = f"{messages['failed']}: {exc}"
        return ret
    ret["result"] = True
    ret["comment"] = messages["done"]
    return ret


def _update_messages(subject, failed_verb, missing_verb):
    """The comments of :func:`_converge` for a state that updates ``subject`` in place."""
    return {
        "already": f"{subject} is already as wanted",
        "would": f"{subject} would be updated",
        "done": f"{subject} updated",
        "failed": f"Failed to {failed_verb} {subject}",
        "missing": f"{subject} would be {missing_verb}",
    }


def _apply_section(ret, section, values, path):
    """The vector ``section`` holds exactly ``values``."""

    def check():
        diff = __salt__["onenebula_conf.differences"](section, values, path=path)
        return {section: diff} if diff["old"] or diff["new"] else {}

    return _converge(
        ret,
        path,
        _update_messages(section, "update", "written"),
        check,
        lambda: __salt__["onenebula_conf.set_section"](section, values, path=path),
        missing_changes={section: {"old": None, "new": "set"}},
    )


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

    def check():
        current = __salt__["onenebula_conf.get"]("FEDERATION/SERVER_ID", path=path)
        if current is not None and current.strip() == str(wanted):
            return {}
        try:
            old = int(current) if current is not None else None
        except ValueError:
            old = current
        return {"server_id": {"old": old, "new": wanted}}

    messages = {
        "already": f"FEDERATION/SERVER_ID is already {wanted}",
        "would": f"FEDERATION/SERVER_ID would be set to {wanted}",
        "done": f"FEDERATION/SERVER_ID set to {wanted}",
        "failed": "Failed to set FEDERATION/SERVER_ID",
        "missing": f"SERVER_ID would be set to {wanted}",
    }
    return _converge(
        ret,
        path,
        messages,
        check,
        lambda: __salt__["onenebula_conf.set"]("FEDERATION/SERVER_ID", wanted, path=path),
        missing_changes={"server_id": {"old": None, "new": wanted}},
    )


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
    secret = str(name).upper().rsplit("/", 1)[-1] in ("PASSWD", "PASSWORD")

    def check():
        current = __salt__["onenebula_conf.get"](name, path=path, reveal=True)
        if not __salt__["onenebula_conf.set"](name, value, path=path, test=True):
            return {}
        shown_old = "********" if secret and current is not None else current
        shown_new = "********" if secret else value
        return {name: {"old": shown_old, "new": shown_new}}

    return _converge(
        ret,
        path,
        _update_messages(name, "set", "set"),
        check,
        lambda: __salt__["onenebula_conf.set"](name, value, path=path),
        missing_changes={name: {"old": None, "new": "set"}},
    )


def absent(name, path=None):
    """
    Ensure ``name`` (``KEY``, a whole vector, or ``SECTION/KEY``) is not in oned.conf.

    .. code-block:: yaml

        oned-no-follower-hook:
          onenebula_conf.absent:
            - name: RAFT_FOLLOWER_HOOK
    """
    ret = _ret(name)

    def check():
        if not __salt__["onenebula_conf.unset"](name, path=path, test=True):
            return {}
        return {name: {"old": "present", "new": None}}

    messages = {
        "already": f"{name} is already absent",
        "would": f"{name} would be removed",
        "done": f"{name} removed",
        "failed": f"Failed to remove {name}",
        "missing": "nothing to remove",
    }
    return _converge(
        ret, path, messages, check, lambda: __salt__["onenebula_conf.unset"](name, path=path)
    )


def _pillar_secret(path):
    """The secret at the ``:``-separated pillar ``path``, read at run time."""
    value = salt.utils.data.traverse_dict_and_list(__pillar__, path, None, delimiter=":")
    return __utils__["onenebula_ha.secret"](value, path)


def database(name, password_pillar, path=None, **values):
    """
    Ensure the vector ``name`` (normally ``DB``) of oned.conf holds exactly ``values``
    (upper-cased keys) plus ``PASSWD`` read from the pillar at ``password_pillar`` (a
    ``:``-separated path) when the state runs: the password is never a state argument,
    so it appears neither in ``state.show_sls`` nor in Salt's logs, and it is masked in
    the changes and the comment.

    .. code-block:: yaml

        oned-db:
          onenebula_conf.database:
            - name: DB
            - password_pillar: onenebula_ha:database:password
            - backend: mysql
            - server: localhost
            - port: 3306
            - user: oneadmin
            - db_name: opennebula
    """
    ret = _ret(name)
    wanted = {key.upper(): value for key, value in values.items() if not str(key).startswith("__")}
    try:
        wanted["PASSWD"] = _pillar_secret(password_pillar)
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    sub = section(name, wanted, path=path)
    secret = wanted["PASSWD"]
    sub["comment"] = sub["comment"].replace(secret, "********")
    return sub
