"""
States: oneadmin's secrets (the files of ``/var/lib/one/.one``) moved from front-end to
front-end over SSH, never through the Salt master, and never as state arguments:

* :func:`published` — on the source front-end (the leader): a sha256 manifest of the
  files, readable by the SSH user only;
* :func:`pulled` — on the other front-ends: the files of that manifest, pulled from the
  source over SSH (``onenebula_transfer.sync_files``) when they differ.

A converged run needs no SSH connection. Each time the source writes its manifest it also
draws a *generation*: a random token, not derived from the secrets, kept beside the
manifest and sent to the Salt mine (``onenebula_ha_secrets_generation``). A front-end that
pulled records, in its own minion cache (root only, never sent anywhere), the source, the
generation it read from the mine before the pull and the sha256 of each file it holds;
when the mine still names that generation and its files still hash to the record, the
source's manifest is the one it synced with and nothing is read over SSH. The mine and
the master see only when the secrets were last republished. A wrong or stale mine value
can only make a front-end check over SSH, or leave it behind until the source's next run
sends the generation again; it never decides what a file holds: that is still only the
manifest read over SSH.

They need no OpenNebula command, so this module loads on a host before OpenNebula is
installed.

.. code-block:: yaml

    secrets-published:
      onenebula_secrets.published:
        - name: /var/lib/one/.one
        - manifest: /var/lib/one/onenebula_ha/secrets.sha256
"""

import json
import logging
import os
import re
import secrets

from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_secrets"

#: The mine function that carries the source's generation (the contents of its
#: ``<manifest>.generation`` file, sent with ``file.read``).
MINE_FUNCTION = "onenebula_ha_secrets_generation"
GENERATION_RE = re.compile(r"[0-9a-f]{32}")


def __virtual__():
    # Plain files and the onenebula_transfer module (checked when a state runs).
    return __virtualname__


def _ret(name):
    return {"name": name, "changes": {}, "result": False, "comment": ""}


def _account(user):
    return __utils__["onenebula_ha.account"](user)


def _generation_path(manifest):
    return f"{manifest}.generation"


def _read_generation(path):
    """The generation in file ``path``, or None (missing, unreadable or malformed)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(64).strip()
    except OSError:
        return None
    return text if GENERATION_RE.fullmatch(text) else None


def _mined_generation(minion):
    """The generation ``minion`` last sent to the mine, or None. The value comes from the
    master: anything but 32 hex digits counts as none."""
    if "mine.get" not in __salt__:
        return None
    try:
        value = __salt__["mine.get"](minion, MINE_FUNCTION, tgt_type="list").get(minion)
    except Exception:  # pylint: disable=broad-except
        # No master to ask (a master outage): the check over SSH decides instead.
        return None
    value = value.strip() if isinstance(value, str) else ""
    return value if GENERATION_RE.fullmatch(value) else None


def _send_generation(path):
    """Send the generation in ``path`` to the mine; raises when the master refused it."""
    try:
        sent = __salt__["mine.send"](MINE_FUNCTION, mine_function="file.read", path=path)
    except Exception as exc:  # pylint: disable=broad-except
        # The master out of reach (a request timeout): the next run sends it again.
        sent = exc
    if sent is not True:
        raise CommandExecutionError(f"mine.send {MINE_FUNCTION} failed: {sent}")


def _write_private(path, text, uid=None, gid=None):
    """Write ``text`` to ``path`` through a temporary file, mode 0600 (and the owner)."""
    temporary = f"{path}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    if uid is not None:
        os.chown(temporary, uid, gid)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def published(name, manifest, user="oneadmin"):
    """
    Publish the files directly in directory ``name`` (the oneadmin ``.one`` directory) to
    the other front-ends: write ``manifest``, their ``<sha256>  <file>`` lines, owned by
    ``user`` (the SSH user the other front-ends pull as) with mode 0600, only when it
    differs. Nothing leaves this host here: the others pull the files over SSH
    (:func:`pulled`). Contents never appear in the output.

    .. code-block:: yaml

        secrets-published:
          onenebula_secrets.published:
            - name: /var/lib/one/.one
            - manifest: /var/lib/one/onenebula_ha/secrets.sha256
    """
    ret = _ret(name)
    if not os.path.isdir(name):
        ret["comment"] = f"{name} does not exist: nothing to publish"
        return ret
    if "onenebula_transfer.manifest" not in __salt__:
        ret["comment"] = (
            "the onenebula_transfer execution module is not available (ssh/scp missing?)"
        )
        return ret
    text = __salt__["onenebula_transfer.manifest"](name)
    if not text:
        ret["comment"] = f"{name} holds no files: nothing to publish"
        return ret
    try:
        uid, gid = _account(user)
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    try:
        with open(manifest, encoding="utf-8") as handle:
            current = handle.read() == text
        info = os.stat(manifest)
        current = current and (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o600, uid, gid)
    except OSError:
        current = False
    files = [line.split("  ", 1)[1] for line in text.splitlines()]
    generation_path = _generation_path(manifest)
    generation = _read_generation(generation_path) if current else None
    if current and generation:
        if _mined_generation(__opts__["id"]) == generation:
            ret["result"] = True
            ret["comment"] = (
                f"The manifest {manifest} of the {len(files)} file(s) of {name} is current"
            )
            return ret
        # Written before, but the mine lacks it (a send that failed, a flushed mine).
        ret["changes"] = {"generation": "sent to the mine"}
        if __opts__["test"]:
            ret["result"] = None
            ret["comment"] = f"The manifest {manifest} is current; its generation would be sent"
            return ret
        try:
            _send_generation(generation_path)
        except CommandExecutionError as exc:
            ret["changes"] = {}
            ret["comment"] = str(exc)
            return ret
        ret["result"] = True
        ret["comment"] = f"The manifest {manifest} is current; sent its generation to the mine"
        return ret
    ret["changes"] = (
        {"generation": "new"}
        if current
        else {"manifest": manifest, "files": files, "generation": "new"}
    )
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = (
            f"The generation of the manifest {manifest} would be written"
            if current
            else f"The manifest {manifest} would be written ({len(files)} file(s))"
        )
        return ret
    directory = os.path.dirname(manifest)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
        os.chown(directory, uid, gid)
    if not current:
        _write_private(manifest, text, uid, gid)
    # A new generation with every manifest written, sent after the manifest is in place:
    # whoever reads it from the mine then reads this manifest (or a newer one) over SSH.
    _write_private(generation_path, secrets.token_hex(16) + "\n", uid, gid)
    try:
        _send_generation(generation_path)
    except CommandExecutionError as exc:
        ret["comment"] = f"Wrote the manifest {manifest}, but {exc}"
        return ret
    ret["result"] = True
    ret["comment"] = (
        f"Wrote a new generation of the manifest {manifest}"
        if current
        else f"Wrote the manifest {manifest} ({len(files)} file(s))"
    )
    return ret


def _record_path():
    return os.path.join(__opts__["cachedir"], "onenebula_secrets", "pulled.json")


def _load_records():
    return __utils__["onenebula_ha.read_json_object"](_record_path())


def _save_record(name, record):
    records = _load_records()
    records[name] = record
    path = _record_path()
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        _write_private(path, json.dumps(records, sort_keys=True))
    except OSError as exc:
        # Only a shortcut is lost: the next run checks over SSH again.
        log.warning("onenebula_secrets: cannot record the pull in %s: %s", path, exc)


def _matches_record(name, record, source, generation, uid, gid):
    """Whether directory ``name`` still holds what the last pull from ``source`` left, and
    the source still publishes the generation that pull read: each recorded file there,
    a regular file with that sha256, mode 0600 and owner ``uid``:``gid``."""
    if not (
        generation
        and isinstance(record, dict)
        and record.get("source") == source
        and record.get("generation") == generation
        and isinstance(record.get("files"), dict)
        and record["files"]
    ):
        return False
    for file_name, digest in record["files"].items():
        local = os.path.join(name, str(file_name))
        try:
            info = os.lstat(local)
        except OSError:
            return False
        if not os.path.isfile(local) or os.path.islink(local):
            return False
        if (info.st_mode & 0o777, info.st_uid, info.st_gid) != (0o600, uid, gid):
            return False
        if __utils__["onenebula_ha.file_sha256"](local) != digest:
            return False
    return True


def pulled(name, source, manifest, user="oneadmin", owner=None, group=None, source_minion=None):
    """
    Ensure directory ``name`` holds the files the front-end ``source`` (its address or
    host name, as in ``known_hosts``) lists in its ``manifest``: the files that differ are
    pulled over SSH as ``user``, verified against the manifest's sha256 and installed with
    mode 0600 for ``owner``:``group`` (default: ``user``); a wrong mode or owner is
    corrected. Only file names appear in the output.

    source_minion
        The source's minion id. When given, the source's generation is read from the mine
        and no SSH connection is made while it is the one the last pull recorded and the
        files are as that pull left them (see the module's description).

    .. code-block:: yaml

        secrets-pulled:
          onenebula_secrets.pulled:
            - name: /var/lib/one/.one
            - source: 10.0.0.11
            - source_minion: vmm01
            - manifest: /var/lib/one/onenebula_ha/secrets.sha256
    """
    ret = _ret(name)
    sync = __salt__.get("onenebula_transfer.sync_files")
    if sync is None:
        ret["comment"] = (
            "the onenebula_transfer execution module is not available (ssh/scp missing?)"
        )
        return ret
    # Read before the SSH check: the source sends a generation only after writing its
    # manifest, so the manifest read below is this generation's or a newer one.
    generation = _mined_generation(source_minion) if source_minion else None
    try:
        uid = _account(owner or user)[0]
        gid = _account(group or owner or user)[1]
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    record = _load_records().get(name)
    if _matches_record(name, record, source, generation, uid, gid):
        ret["result"] = True
        ret["comment"] = (
            f"The {len(record['files'])} file(s) of {name} are as pulled from {source}, "
            f"whose secrets' generation is unchanged (no SSH needed)"
        )
        return ret
    try:
        found = sync(
            source, manifest, name, user=user, owner=owner, group=group,
            dry_run=__opts__["test"],
        )  # fmt: skip
    except CommandExecutionError as exc:
        if (getattr(exc, "info", None) or {}).get("missing") and manifest in str(exc):
            # A host that has not joined yet: the deploy/add orchestration publishes the
            # manifest on the leader before this host's base state.
            ret["result"] = True
            ret["comment"] = (
                f"{source} has not published its {name} files yet ({manifest} is missing "
                "there); the deploy and add orchestrations publish them before a host joins"
            )
            return ret
        if __opts__["test"]:
            # A test run before the SSH trust exists (keys and known_hosts come in the
            # same run): predict the pull.
            ret["result"] = None
            ret["changes"] = {"pulled": f"the files {source} lists in {manifest}"}
            ret["comment"] = f"The files of {name} would be pulled from {source} ({exc})"
            return ret
        ret["comment"] = f"Cannot take the files of {name} from {source}: {exc}"
        return ret
    if not __opts__["test"]:
        # The files now match the manifest just read: record them for the next run.
        _save_record(
            name,
            {
                "source": source,
                "generation": generation,
                "files": {
                    file_name: __utils__["onenebula_ha.file_sha256"](os.path.join(name, file_name))
                    for file_name in found["files"]
                },
            },
        )
    changes = {key: found[key] for key in ("pulled", "fixed") if found[key]}
    if not changes:
        ret["result"] = True
        ret["comment"] = f"The {len(found['files'])} file(s) of {name} match {source}'s"
        return ret
    ret["changes"] = changes
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{len(found['pulled'])} file(s) would be pulled from {source}" + (
            f", {len(found['fixed'])} would get mode 0600 and their owner" if found["fixed"] else ""
        )
        return ret
    ret["result"] = True
    ret["comment"] = f"Pulled {len(found['pulled'])} file(s) from {source}" + (
        f", fixed the mode or owner of {len(found['fixed'])}" if found["fixed"] else ""
    )
    return ret
