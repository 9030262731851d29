"""
Which SSH host keys a user's ``known_hosts``, and which public keys their
``authorized_keys``, already hold, read in Python.

``ssh/init.sls`` puts every front-end's host key in oneadmin's ``known_hosts`` under
its address and its name with ``ssh_known_hosts.present``, whose check runs
``ssh-keygen -F`` (one process per name, ten on a 5-server zone, in every run). The SLS asks
:func:`present` first and writes a state only for the names whose key is not there yet, so
a converged run starts no process for them; a missing or changed key still goes through
``ssh_known_hosts.present`` (its test mode, its update of a changed key).

Only what is certainly there counts as present: an unmarked line whose host field names the
host exactly (plain, or hashed ``|1|salt|hash`` as ``ssh-keygen -H`` writes it) with the
same key type and key. Patterns, ``@cert-authority`` / ``@revoked`` lines and an unreadable
file count as absent, so the state decides for them as before.

:func:`authorized` does the same for ``ssh_auth.present``: a key counts as there only on a
line that is exactly what that state would write for it (no options, the same key type,
key and comment), so the SLS writes the state only for the other keys.
"""

import base64
import binascii
import hashlib
import hmac
import os
import pwd

__virtualname__ = "onenebula_ssh"

HASH_MAGIC = "|1|"


def __virtual__():
    # Reads files only: always loadable.
    return __virtualname__


def _hashed_match(field, host):
    try:
        salt_b64, digest_b64 = field[len(HASH_MAGIC) :].split("|", 1)
        salt_bytes = base64.b64decode(salt_b64, validate=True)
        digest = base64.b64decode(digest_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    expected = hmac.new(salt_bytes, host.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(expected, digest)


def _names_host(field, host):
    if field.startswith(HASH_MAGIC):
        return _hashed_match(field, host)
    return host in field.split(",")


def _known_keys(text):
    """The ``(host field, key type, key)`` of each unmarked entry of a known_hosts text."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith(("#", "@")):
            continue
        entries.append((fields[0], fields[1], fields[2]))
    return entries


def _read(user, config):
    """The text of ``user``'s file ``config`` (relative to their home unless absolute)."""
    path = config if os.path.isabs(config) else os.path.join(pwd.getpwnam(user).pw_dir, config)
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def present(user, hosts, config=".ssh/known_hosts"):
    """
    The entries of ``hosts`` (``[{"name", "enc", "key", …}]``, returned as given) that
    ``user``'s known_hosts (``config``, relative to the home directory unless absolute)
    already holds: the host under that name with that key type and key. An unreadable file
    or an unknown user: none.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_ssh.present oneadmin '[{"name": "vmm02", "enc": "ssh-ed25519", "key": "AAAA..."}]'
    """
    try:
        entries = _known_keys(_read(user, config))
    except (KeyError, OSError):
        return []
    found = []
    for host in hosts:
        name, enc, key = host["name"], host["enc"], host["key"]
        if any(
            entry_enc == enc and entry_key == key and _names_host(field, name)
            for field, entry_enc, entry_key in entries
        ):
            found.append(host)
    return found


def authorized(user, keys, config=".ssh/authorized_keys"):
    """
    The public keys of ``keys`` (``"<type> <key> [comment]"`` lines, returned as given)
    that ``user``'s authorized_keys (``config``, relative to the home directory unless
    absolute) already holds as ``ssh_auth.present`` would write them: a line of the same
    key type, key and comment, without options. An unreadable file or an unknown user:
    none.

    CLI Example:

    .. code-block:: bash

        salt vmm01 onenebula_ssh.authorized oneadmin '["ssh-ed25519 AAAA... oneadmin@vmm02"]'
    """
    try:
        lines = [tuple(line.split(None, 2)) for line in _read(user, config).splitlines()]
    except (KeyError, OSError):
        return []
    found = []
    for key in keys:
        fields = tuple(key.split(None, 2)) if isinstance(key, str) else ()
        if len(fields) < 2 or not fields[0].startswith(("ssh-", "ecdsa-", "sk-")):
            continue
        # Every line that holds this key must be the bare line: a line with options (they
        # come first) or another comment would be rewritten by ssh_auth.present.
        holding = [line for line in lines if fields[1] in " ".join(line).split()]
        if holding and all(line == fields for line in holding):
            found.append(key)
    return found
