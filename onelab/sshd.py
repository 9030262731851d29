"""OpenSSH server inside a lab host: installed the way Debian's ``openssh-server`` does it.

The package's postinst generates the host keys (``ssh-keygen -A``) and enables the ``ssh``
init script (``update-rc.d ssh defaults``); the server then starts at every boot from
``/etc/rc2.d``. The formula's front-ends pull DB dumps and oneadmin's secrets from each
other over SSH, as oneadmin: each host needs a running sshd with its own host keys. Traffic
stays in the lab: sshd listens in the host's network namespace only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onelab.host import Host

# Run inside the host: /etc/ssh is the host's own copy.
POSTINST = """\
set -e
ssh-keygen -A >/dev/null
update-rc.d ssh defaults >/dev/null
"""


def install(host: Host) -> None:
    """Generate the host's SSH host keys and enable sshd at boot."""
    host.run(["sh", "-c", POSTINST], timeout=120)


def is_running(host: Host) -> bool:
    """True if the host's sshd runs (its init script's status)."""
    return host.run(["service", "ssh", "status"], check=False, timeout=15).returncode == 0
