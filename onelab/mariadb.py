"""MariaDB inside a lab host: installed the way Debian's ``mariadb-server`` package does it.

The package's postinst flags the data directory, creates the system tables with
``mysql_install_db --rpm --cross-bootstrap --user=mysql --disable-log-bin --skip-test-db``
(root authenticates through the unix socket) and enables the ``mariadb`` init script with
``update-rc.d mariadb defaults``. The server then starts at every boot from ``/etc/rc2.d`` and
is managed with ``service mariadb start|stop|status``, exactly what Salt's ``service`` states do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onelab.host import Host

# Run inside the host, so every path is the host's own (/var/lib/mysql, /etc/mysql, /tmp).
POSTINST = """\
set -e
touch /var/lib/mysql/debian-10.11.flag
TMPDIR= bash /usr/bin/mysql_install_db --rpm --cross-bootstrap --user=mysql \
    --disable-log-bin --skip-test-db >/var/log/mysql/install.log 2>&1
update-rc.d mariadb defaults >/dev/null
"""


def install(host: Host) -> None:
    """Bootstrap the host's data directory and enable the service at boot."""
    host.run(["sh", "-c", POSTINST], timeout=120)


def is_running(host: Host) -> bool:
    """True if the host's server answers through its unix socket."""
    done = host.run(
        ["mariadb-admin", "--defaults-file=/etc/mysql/debian.cnf", "ping"], check=False, timeout=15
    )
    return done.returncode == 0
