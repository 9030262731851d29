"""
The formula's states that handle oneadmin's credentials at run time, so that no secret is
a state argument (Salt shows every argument in ``state.show_sls`` and may log it):

* :func:`database_user` — the OpenNebula DB user, created with a MySQL native password
  hash computed here from the password read from the pillar at run time
  (``password_pillar``, a ``:``-separated pillar path; saltext-mysql logs query arguments
  at debug level, so the plain password never reaches it);
* :func:`secrets_published` — push this host's ``/var/lib/one/.one`` files and a sha256
  manifest to the master (``cp.push``; the followers fetch them through ``minionfs``),
  only when the master's copy differs.

They need no OpenNebula command and no formula execution module, so this module loads on
a host before OpenNebula is installed (the DB user is made in the same run as the
packages). The zone waits are ``onenebula_zone.healthy``/``member``, the ``DB`` section of
oned.conf is ``onenebula_conf.database``.

.. code-block:: yaml

    opennebula-db-user:
      onenebula_ha.database_user:
        - name: oneadmin
        - hosts: [localhost, 127.0.0.1]
        - password_pillar: onenebula_ha:database:password
        - connection_unix_socket: /run/mysqld/mysqld.sock
"""

import hashlib
import os

import salt.utils.data
from salt.exceptions import CommandExecutionError

__virtualname__ = "onenebula_ha"

MANIFEST_NAME = "secrets.sha256"


def __virtual__():
    return __virtualname__


def _ret(name):
    return {"name": name, "changes": {}, "result": False, "comment": ""}


def _pillar_secret(path):
    """The secret at the ``:``-separated pillar ``path``, read at run time."""
    value = salt.utils.data.traverse_dict_and_list(__pillar__, path, None, delimiter=":")
    return __utils__["onenebula_ha.secret"](value, path)


def _mysql_native_hash(password):
    """The ``mysql_native_password`` hash of ``password`` (``*`` + SHA1(SHA1(pw)))."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()
    return "*" + hashlib.sha1(inner).hexdigest().upper()


# ------------------------------------------------------------------ database


def database_user(name, password_pillar, hosts=("localhost",), **connection_args):
    """
    Ensure the MySQL/MariaDB user ``name`` exists for each of ``hosts`` with the password
    found in the pillar at ``password_pillar``. Connection arguments
    (``connection_unix_socket``, ``connection_user``…) are passed to saltext-mysql's
    ``mysql_user.present``; only the password hash is.

    .. code-block:: yaml

        opennebula-db-user:
          onenebula_ha.database_user:
            - name: oneadmin
            - password_pillar: onenebula_ha:database:password
    """
    ret = _ret(name)
    try:
        password_hash = _mysql_native_hash(_pillar_secret(password_pillar))
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    if isinstance(hosts, str):
        hosts = [hosts]
    comments, result = [], True
    for host in hosts:
        sub = __states__["mysql_user.present"](
            name, host=host, password_hash=password_hash, **connection_args
        )
        comments.append(sub["comment"].replace(password_hash, "<hash>"))
        if sub["changes"]:
            ret["changes"][f"{name}@{host}"] = (
                "updated" if "Password" in sub["comment"] else "added"
            )
        if sub["result"] is False:
            result = False
        elif sub["result"] is None and result is True:
            result = None
    ret["result"] = result
    ret["comment"] = "; ".join(comments)
    return ret


# ------------------------------------------------------------------ secrets


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def _master_sha256(path):
    """sha256 of the master's pushed copy of ``path`` (minionfs), or None."""
    found = __salt__["cp.hash_file"](f"salt://{__opts__['id']}{path}")
    if not found or found.get("hash_type") != "sha256":
        return None
    return found.get("hsum")


def _manifest_text(directory):
    """``<sha256>  <file>`` lines for the regular files directly in ``directory``."""
    lines = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isfile(path) and not os.path.islink(path):
            lines.append(f"{_file_sha256(path)}  {entry}\n")
    return "".join(lines)


def secrets_published(name, manifest):
    """
    Publish the files directly in directory ``name`` (the oneadmin ``.one`` directory) to
    the master with ``cp.push``, with a ``manifest`` file of their sha256 sums that the
    other front-ends verify against. Only files whose master copy differs are pushed.
    Contents never appear in the output; changes list file names only.

    .. code-block:: yaml

        secrets-published:
          onenebula_ha.secrets_published:
            - name: /var/lib/one/.one
            - manifest: /var/lib/one/onenebula_ha/secrets.sha256
    """
    ret = _ret(name)
    if not os.path.isdir(name):
        ret["comment"] = f"{name} does not exist: nothing to publish"
        return ret
    text = _manifest_text(name)
    if not text:
        ret["comment"] = f"{name} holds no files: nothing to publish"
        return ret
    try:
        with open(manifest, encoding="utf-8") as handle:
            manifest_current = handle.read() == text
    except OSError:
        manifest_current = False
    entries = [line.split("  ", 1) for line in text.splitlines()]
    files = [os.path.join(name, file) for _, file in entries]
    wanted = {os.path.join(name, file): digest for digest, file in entries}
    if manifest_current:
        wanted[manifest] = _file_sha256(manifest)
    stale = [path for path, digest in wanted.items() if _master_sha256(path) != digest]
    if manifest_current and not stale:
        ret["result"] = True
        ret["comment"] = f"{len(files)} file(s) of {name} and their manifest are on the master"
        return ret
    to_push = sorted(set(stale) | ({manifest} if not manifest_current else set()))
    ret["changes"] = {"pushed": to_push}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{len(to_push)} file(s) would be pushed to the master"
        return ret
    if not manifest_current:
        os.makedirs(os.path.dirname(manifest), mode=0o700, exist_ok=True)
        descriptor = os.open(manifest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    failed = [path for path in to_push if not __salt__["cp.push"](path)]
    if failed:
        ret["changes"] = {"pushed": [p for p in to_push if p not in failed]}
        ret["comment"] = (
            f"cp.push failed for {', '.join(failed)}: is file_recv enabled on the master?"
        )
        return ret
    ret["result"] = True
    ret["comment"] = f"Pushed {len(to_push)} file(s) to the master"
    return ret
