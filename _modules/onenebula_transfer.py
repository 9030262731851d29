"""
Files between the front-ends of one zone, over the SSH trust the formula builds for
oneadmin (``onenebula_ha.ssh``: each front-end's key in the others' ``authorized_keys``,
their host keys in ``known_hosts``), never through the Salt master.

This is how OpenNebula's own procedure adds a server to an HA zone: the leader's DB
backup and its ``/var/lib/one/.one`` directory are copied from front-end to front-end
(https://docs.opennebula.io/7.0/product/control_plane_configuration/high_availability/frontend_ha/).
The receiving front-end *pulls*: ``scp`` runs there as the SSH user (``oneadmin``) against
the one host an orchestration named, with ``BatchMode=yes`` (no password prompt) and
``StrictHostKeyChecking=yes`` (only a host key the formula put in ``known_hosts``), so the
files reach no other host and no other account. Every pulled file is checked against a
sha256 before it is used.

Every host, user and path that reaches a command line is checked against a strict grammar
first (host: a host name, an IPv4 address or an IPv6 address; user: a POSIX user name;
paths: absolute, normalised, letters, digits and ``_ . @ + -`` only) and the command is run
as an argument list, never through a local shell. File contents never appear in a return
value, a log line or a command line: only names and checksums do.

* :func:`pull` — copy files from a front-end into a local directory;
* :func:`fetch` — pull one file and verify it (its ``<file>.sha256`` sidecar or a given
  checksum), as the DB restore does with the leader's dump: streamed over one ``ssh``
  connection (``cat``) into a file only root can write, hashed on the way in;
* :func:`sync_files` — make a local directory hold the files a front-end's manifest lists
  (``<sha256>  <name>`` lines), pulling only those that differ, as the secrets do;
* :func:`remove` — delete files on a front-end (the leader's dump once it was pulled).
"""

import contextlib
import hashlib
import ipaddress
import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import salt.utils.path
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "onenebula_transfer"

DEFAULT_USER = "oneadmin"
DEFAULT_TIMEOUT = 300
CONNECT_TIMEOUT = 10
USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
HOST_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
PATH_SEGMENT_RE = re.compile(r"[A-Za-z0-9_.@+-]{1,255}")
FILE_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MAX_PATH = 1024
MAX_MANIFEST = 64 * 1024
STREAM_BLOCK = 1 << 20
#: What every ssh/scp call runs with: no prompt, only known host keys, a bounded wait.
SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
    "-o", "LogLevel=ERROR",
)  # fmt: skip


def __virtual__():
    for command in ("scp", "ssh"):
        if salt.utils.path.which(command) is None:
            return (False, f"{__virtualname__}: the OpenSSH '{command}' command is not on PATH")
    return __virtualname__


# ------------------------------------------------------------------ grammar


def _check_host(host):
    """``host`` (a host name, IPv4 or IPv6 address) as ssh wants it; raises otherwise."""
    if isinstance(host, str) and 0 < len(host) <= 253:
        text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            address = None
        if address is not None and "%" not in text:
            return str(address)
        labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
        if all(HOST_LABEL_RE.fullmatch(label) for label in labels) and not labels[-1].isdigit():
            return host
    raise CommandExecutionError(f"not a host name or IP address: {_show(host)}")


def _check_user(user):
    """``user`` when it is a POSIX user name (lower-case letters, digits, _ -)."""
    if isinstance(user, str) and USER_RE.fullmatch(user):
        return user
    raise CommandExecutionError(f"not a user name: {_show(user)}")


def _check_path(path):
    """``path`` when it is absolute, normalised and made of plain segments."""
    if isinstance(path, str) and path.startswith("/") and 1 < len(path) <= MAX_PATH:
        segments = path[1:].split("/")
        if all(
            PATH_SEGMENT_RE.fullmatch(segment) and segment not in (".", "..")
            for segment in segments
        ):
            return path
    raise CommandExecutionError(
        f"not an absolute, normalised path of letters, digits and _ . @ + -: {_show(path)}"
    )


def _show(value):
    """A bounded, printable rendering of a rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _remote(user, host, path=None):
    """``user@host`` (``user@[v6]:path`` for scp)."""
    if path is None:
        return f"{user}@{host}"
    shown = f"[{host}]" if ":" in host else host
    return f"{user}@{shown}:{path}"


# ------------------------------------------------------------------ running ssh/scp


def _user(user):
    return _check_user(user or __opts__.get("onenebula_ha.ssh_user") or DEFAULT_USER)


def _as_user(argv, user):
    """``argv`` run as ``user``: itself when the minion is that user, else behind
    util-linux's ``runuser`` (no shell, no password, root only)."""
    if _running_as(user):
        return list(argv)
    runuser = salt.utils.path.which("runuser")
    if runuser is None:
        raise CommandExecutionError(f"runuser (util-linux) is needed to run {argv[0]} as {user}")
    return [runuser, "-u", user, "--", *argv]


def _run(argv, user, timeout, what):
    """Run ``argv`` (a list: no shell) as ``user``, in that user's home directory; raise
    with ssh's own message on failure."""
    result = __salt__["cmd.run_all"](
        _as_user(argv, user),
        python_shell=False,
        ignore_retcode=True,
        output_loglevel="debug",
        timeout=timeout,
        cwd=_home(user),
        env={"LC_ALL": "C"},
    )
    if result["retcode"] != 0:
        message = (result.get("stderr") or result.get("stdout") or "").strip()
        raise __utils__["onenebula_ha.error"](
            f"{what} failed: {message or 'exit ' + str(result['retcode'])}",
            retcode=result["retcode"],
            missing="No such file or directory" in message,
        )
    return result


def _running_as(user):
    try:
        return pwd.getpwuid(os.geteuid()).pw_name == user
    except KeyError:
        return False


def _home(user):
    try:
        home = pwd.getpwnam(user).pw_dir
    except KeyError:
        raise CommandExecutionError(f"no local user {user}") from None
    return home if os.path.isdir(home) else "/"


def _account(user):
    return __utils__["onenebula_ha.account"](user)


def _sha256(path):
    return __utils__["onenebula_ha.file_sha256"](path)


def _staging(directory, user):
    """A fresh directory below ``directory`` that only ``user`` (and root) can use."""
    staging = tempfile.mkdtemp(prefix=".onenebula-pull-", dir=directory)
    uid, gid = _account(user)
    os.chown(staging, uid, gid)
    os.chmod(staging, 0o700)
    return staging


def _pull_into(host, paths, directory, user, timeout):
    """scp ``paths`` of ``host`` into ``directory``; {remote path: local path}."""
    argv = ["scp", "-q", *SSH_OPTIONS, "--"]
    argv += [_remote(user, host, path) for path in paths]
    argv.append(directory.rstrip("/") + "/")
    _run(argv, user, timeout, f"scp from {host}")
    return {path: os.path.join(directory, os.path.basename(path)) for path in paths}


# ------------------------------------------------------------------ public API


def pull(host, paths, dest, user=None, timeout=DEFAULT_TIMEOUT):
    """
    Copy the files ``paths`` (absolute paths on ``host``, a list or one path) into the
    local directory ``dest`` with ``scp`` run as ``user`` (minion config
    ``onenebula_ha.ssh_user``, default ``oneadmin``), which must be able to write there.
    Only host keys already in that user's ``known_hosts`` are accepted. Returns
    ``{remote path: local path}``.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_transfer.pull 10.0.0.11 /var/lib/one/onenebula_ha/leader.sql /var/lib/one/onenebula_ha
    """
    host, user, dest = _check_host(host), _user(user), _check_path(dest)
    paths = [paths] if isinstance(paths, str) else list(paths or [])
    if not paths:
        raise CommandExecutionError("nothing to pull: no paths given")
    paths = [_check_path(path) for path in paths]
    names = [os.path.basename(path) for path in paths]
    if len(set(names)) != len(names):
        raise CommandExecutionError("two of the paths to pull have the same file name")
    if not os.path.isdir(dest):
        raise CommandExecutionError(f"{dest} is not a directory")
    return _pull_into(host, paths, dest, user, timeout)


def fetch(
    host, path, dest, sha256=None, user=None, timeout=DEFAULT_TIMEOUT, consume=False
):  # fmt: skip
    """
    Pull ``path`` from ``host`` into the local directory ``dest`` and verify it: against
    ``sha256`` when given, else against the ``<path>.sha256`` sidecar there (``sha256sum``
    format, as ``onenebula_db.backup`` writes it), read first. The file comes over one
    ``ssh`` connection (``cat``, run there as ``user``) and is hashed as it arrives, into
    a new file of this process (root's, mode 0600: the SSH user cannot write to it after the
    check); one that does not match is deleted and the call fails. With ``consume`` the
    same connection deletes ``path`` and its sidecar on ``host`` once they were sent
    (a dump is used once, whether it matches or not). Returns
    ``{"path": <local path>, "sha256"}``.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_transfer.fetch 10.0.0.11 /var/lib/one/onenebula_ha/leader.sql /var/lib/one/onenebula_ha
    """
    host, user, path, dest = _check_host(host), _user(user), _check_path(path), _check_path(dest)
    if sha256 is not None and not SHA256_RE.fullmatch(str(sha256).lower()):
        raise CommandExecutionError(f"not a sha256 checksum: {_show(sha256)}")
    if not os.path.isdir(dest):
        raise CommandExecutionError(f"{dest} is not a directory")
    if sha256:
        expected = str(sha256).lower()
    else:
        expected = _parse_sidecar(
            read(host, f"{path}.sha256", user=user, timeout=timeout), f"{path}.sha256"
        )
    local = os.path.join(dest, os.path.basename(path))
    actual = _stream_into(host, path, local, user, timeout, consume)
    if actual != expected:
        _unlink(local)
        raise CommandExecutionError(
            f"checksum mismatch for {path} from {host}: expected {expected}, got {actual}"
        )
    return {"path": local, "sha256": actual}


def _stream_into(host, path, local, user, timeout, consume=False):
    """``cat`` of ``path`` on ``host`` (as ``user``; then ``rm`` of it and its sidecar
    with ``consume``) into the new file ``local`` (0600, this process's); its sha256.
    Nothing is left behind here on failure."""
    remote = ["cat", "--", path]
    if consume:
        # ssh hands the words to the remote shell: the path grammar leaves nothing in
        # them for it to interpret but this "&&".
        remote += ["&&", "rm", "-f", "--", path, f"{path}.sha256"]
    argv = _as_user(["ssh", *SSH_OPTIONS, "-T", "--", _remote(user, host), *remote], user)
    temporary = f"{local}.part"
    _unlink(temporary)
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as errors:
        handle = os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        try:
            with (
                handle,
                subprocess.Popen(  # pylint: disable=consider-using-with
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    cwd=_home(user),
                    env={**os.environ, "LC_ALL": "C"},
                    start_new_session=True,  # a timeout kills runuser and ssh together
                ) as process,
            ):
                with _killed_after(process, timeout, f"ssh from {host}"):
                    for block in iter(lambda: process.stdout.read(STREAM_BLOCK), b""):
                        digest.update(block)
                        handle.write(block)
                retcode = process.wait()
            if retcode != 0:
                errors.seek(0)
                message = errors.read(4096).decode("utf-8", "replace").strip()
                raise __utils__["onenebula_ha.error"](
                    f"ssh from {host} failed: {message or 'exit ' + str(retcode)}",
                    retcode=retcode,
                    missing="No such file or directory" in message,
                )
            os.replace(temporary, local)
        except BaseException:
            _unlink(temporary)
            raise
    return digest.hexdigest()


@contextlib.contextmanager
def _killed_after(process, timeout, what):
    """Kill ``process`` when it runs longer than ``timeout`` seconds (its stream then
    ends) and fail."""
    expired = threading.Event()

    def expire():
        expired.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    if expired.is_set():
        raise CommandExecutionError(f"{what} timed out after {timeout} s")


def read(host, path, user=None, timeout=60, limit=MAX_MANIFEST):
    """
    The text of the small file ``path`` on ``host`` (a checksum sidecar, a manifest),
    pulled into a private temporary directory that is removed again; at most ``limit``
    bytes.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_transfer.read 10.0.0.11 /var/lib/one/onenebula_ha/leader.sql.sha256
    """
    host, user, path = _check_host(host), _user(user), _check_path(path)
    staging = _staging(tempfile.gettempdir(), user)
    try:
        local = _pull_into(host, [path], staging, user, timeout)[path]
        if os.path.getsize(local) > limit:
            raise CommandExecutionError(f"{path} on {host} is larger than {limit} bytes")
        with open(local, encoding="utf-8") as handle:
            return handle.read()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove(host, paths, user=None, timeout=60):
    """
    Delete the files ``paths`` on ``host`` (``rm -f``, as ``user`` over ssh). The paths
    are checked against the path grammar, which leaves nothing for the remote shell to
    interpret.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_transfer.remove 10.0.0.11 /var/lib/one/onenebula_ha/leader.sql
    """
    host, user = _check_host(host), _user(user)
    paths = [_check_path(path) for path in ([paths] if isinstance(paths, str) else paths or [])]
    if not paths:
        return []
    argv = ["ssh", *SSH_OPTIONS, "-T", "--", _remote(user, host), "rm", "-f", "--", *paths]
    _run(argv, user, timeout, f"removing files on {host}")
    return paths


def parse_manifest(text):
    """
    ``{file name: sha256}`` from manifest ``text`` (``<sha256>  <name>`` lines, as
    ``sha256sum`` writes them). Raises on any line that is not one: a name with a path,
    an odd character or a bad checksum is refused, not skipped.

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_transfer.parse_manifest "$(cat secrets.sha256)"
    """
    entries = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        digest, _, name = line.partition("  ")
        if not (SHA256_RE.fullmatch(digest) and FILE_NAME_RE.fullmatch(name)):
            raise CommandExecutionError(f"manifest line {number} is not '<sha256>  <file name>'")
        if name in entries:
            raise CommandExecutionError(f"manifest line {number}: {name} is listed twice")
        entries[name] = digest
    return entries


def manifest(directory):
    """
    The manifest of the regular files directly in ``directory``: ``<sha256>  <name>``
    lines in name order (symbolic links and subdirectories are left out).

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_transfer.manifest /var/lib/one/.one
    """
    lines = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isfile(path) and not os.path.islink(path) and FILE_NAME_RE.fullmatch(entry):
            lines.append(f"{_sha256(path)}  {entry}\n")
    return "".join(lines)


def sync_files(
    host, manifest_path, directory, user=None, owner=None, group=None, dry_run=False,
    timeout=DEFAULT_TIMEOUT,
):  # fmt: skip
    """
    Make the local ``directory`` hold the files listed in the manifest at
    ``manifest_path`` on ``host``, each in the manifest's directory ``directory`` there
    too: the files whose local sha256 differs are pulled into a private staging directory,
    verified against the manifest, given mode 0600 and ``owner``:``group`` (default: the SSH
    user), and moved into place. Files not listed are left alone. With ``dry_run`` only the
    manifest is read. Returns ``{"files": [names], "pulled": [names], "fixed": [names]}``
    (``fixed``: mode or owner corrected).

    CLI Example:

    .. code-block:: bash

        salt vmm02 onenebula_transfer.sync_files 10.0.0.11 /var/lib/one/onenebula_ha/secrets.sha256 /var/lib/one/.one
    """
    host, user = _check_host(host), _user(user)
    manifest_path, directory = _check_path(manifest_path), _check_path(directory)
    owner = _check_user(owner or user)
    uid, _ = _account(owner)
    gid = _account(_check_user(group))[1] if group else _account(owner)[1]
    entries = parse_manifest(read(host, manifest_path, user=user, timeout=timeout))
    if not entries:
        raise CommandExecutionError(f"the manifest {manifest_path} on {host} lists no file")
    stale, fixed = [], []
    for name, digest in sorted(entries.items()):
        local = os.path.join(directory, name)
        if not os.path.isfile(local) or os.path.islink(local) or _sha256(local) != digest:
            stale.append(name)
            continue
        info = os.stat(local)
        if (info.st_mode & 0o777, info.st_uid, info.st_gid) != (0o600, uid, gid):
            fixed.append(name)
    result = {"files": sorted(entries), "pulled": stale, "fixed": fixed}
    if dry_run or not (stale or fixed):
        return result
    if not os.path.isdir(directory):
        raise CommandExecutionError(f"{directory} is not a directory")
    for name in fixed:
        local = os.path.join(directory, name)
        os.chown(local, uid, gid)
        os.chmod(local, 0o600)
    if not stale:
        return result
    staging = _staging(directory, user)
    try:
        pulled = _pull_into(
            host, [os.path.join(directory, name) for name in stale], staging, user, timeout
        )
        for name in stale:
            local = pulled[os.path.join(directory, name)]
            actual = _sha256(local)
            if actual != entries[name]:
                raise CommandExecutionError(
                    f"checksum mismatch for {name} from {host}: the manifest says "
                    f"{entries[name]}, the copy has {actual}"
                )
        for name in stale:
            local = pulled[os.path.join(directory, name)]
            os.chown(local, uid, gid)
            os.chmod(local, 0o600)
            os.replace(local, os.path.join(directory, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("onenebula_transfer: %s from %s: pulled %s", directory, host, ", ".join(stale))
    return result


def _parse_sidecar(text, name):
    fields = (text or "").split()
    digest = fields[0].lower() if fields else ""
    if not SHA256_RE.fullmatch(digest):
        raise CommandExecutionError(f"{os.path.basename(name)} holds no sha256 checksum")
    return digest


def _unlink(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
