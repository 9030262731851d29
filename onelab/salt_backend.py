"""What the lab needs from whoever runs its Salt daemons.

Two implementations: :class:`onelab.salt_plain.PlainSalt` (plain daemons, used by the CLI and
the demo) and :class:`onelab.salt_factories.FactoriesSalt` (pytest-salt-factories daemons, used
by the tests). Both use :mod:`onelab.saltconfig` for their configuration.

The lab receives its backend from whoever builds it (``Lab(size, salt=...)``) and never imports
an implementation; a backend only sees the lab through :class:`LabPaths`, so neither side
imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from onelab.host import Host


class LabPaths(Protocol):
    """What a backend reads from the lab it is attached to (:class:`onelab.lab.Lab` has it)."""

    @property
    def state_dir(self) -> Path:
        """The lab's state directory; a backend keeps its daemons' files below ``salt/``."""

    @property
    def state_tree(self) -> Path:
        """What the master serves as ``salt://``."""

    @property
    def pillar_dir(self) -> Path:
        """The master's pillar root."""


class SaltBackend(Protocol):
    """Starts and stops the lab's master and minions."""

    mode: str
    # Whether start_minions works while the master is down (minions then connect later).
    starts_minions_without_master: bool

    def attach(self, lab: LabPaths) -> None:
        """Learn the lab's paths and hosts (called by the lab before anything else)."""

    def start_master(self) -> None:
        """Start the master in the ``salt`` namespace and wait until it serves."""

    def stop_master(self) -> None:
        """Stop the master (minions stay up and reconnect when it is back)."""

    def master_running(self) -> bool: ...

    def start_minions(self, hosts: list[Host], *, wait: bool = True) -> None:
        """Start the minions of ``hosts`` inside them and (``wait``) until they answer."""

    def stop_minion(self, host: Host) -> None: ...

    def minion_running(self, host: Host) -> bool: ...

    def stop_all(self) -> None:
        """Stop every daemon this backend started."""
