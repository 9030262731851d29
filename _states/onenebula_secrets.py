"""
States: oneadmin's secrets (the files of ``/var/lib/one/.one``) moved from front-end to
front-end over SSH, never through the Salt master, and never as state arguments:

* :func:`published` — on the source front-end (the leader): a sha256 manifest of the
  files, readable by the SSH user only;
* :func:`pulled` — on the other front-ends: the files of that manifest, pulled from the
  source over SSH (``onenebula_transfer.sync_files``) when they differ.

They need no OpenNebula command, so this module loads on a host before OpenNebula is
installed.

.. code-block:: yaml

    secrets-published:
      onenebula_secrets.published:
        - name: /var/lib/one/.one
        - manifest: /var/lib/one/onenebula_ha/secrets.sha256
"""

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_secrets"


def __virtual__():
    # Plain files and the onenebula_transfer module (checked when a state runs).
    return __virtualname__


def _ret(name):
    return {"name": name, "changes": {}, "result": False, "comment": ""}


def _account(user):
    return __utils__["onenebula_ha.account"](user)


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
    if current:
        ret["result"] = True
        ret["comment"] = f"The manifest {manifest} of the {len(files)} file(s) of {name} is current"
        return ret
    ret["changes"] = {"manifest": manifest, "files": files}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"The manifest {manifest} would be written ({len(files)} file(s))"
        return ret
    directory = os.path.dirname(manifest)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
        os.chown(directory, uid, gid)
    temporary = f"{manifest}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chown(temporary, uid, gid)
    os.chmod(temporary, 0o600)
    os.replace(temporary, manifest)
    ret["result"] = True
    ret["comment"] = f"Wrote the manifest {manifest} ({len(files)} file(s))"
    return ret


def pulled(name, source, manifest, user="oneadmin", owner=None, group=None):
    """
    Ensure directory ``name`` holds the files the front-end ``source`` (its address or
    host name, as in ``known_hosts``) lists in its ``manifest``: the files that differ are
    pulled over SSH as ``user``, verified against the manifest's sha256 and installed with
    mode 0600 for ``owner``:``group`` (default: ``user``); a wrong mode or owner is
    corrected. Only file names appear in the output.

    .. code-block:: yaml

        secrets-pulled:
          onenebula_secrets.pulled:
            - name: /var/lib/one/.one
            - source: 10.0.0.11
            - manifest: /var/lib/one/onenebula_ha/secrets.sha256
    """
    ret = _ret(name)
    sync = __salt__.get("onenebula_transfer.sync_files")
    if sync is None:
        ret["comment"] = (
            "the onenebula_transfer execution module is not available (ssh/scp missing?)"
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
