"""An N-server simulated OpenNebula zone on loopback addresses, for tests and demos.

Each server is a self-contained ``ONE_LOCATION`` under ``DIR/server-<i>`` listening on its own
address ``<net>.<i+1>:2633`` (``net`` is a random ``127.X.Y`` unless given), all sharing
``DIR/.one/one_auth``. ``up`` performs the documented bootstrap (docs/opennebula-raft.md §5.8):
the first server starts solo, adds itself, gets ``SERVER_ID = 0`` and restarts into a one-server
HA zone (leader); every other server gets a copy of the leader's DB, is added on the leader,
gets its ``SERVER_ID`` and starts as a follower, one at a time.

Python API::

    with LocalZone(3, tmp_path) as zone:
        leader = zone.wait_leader()
        zone.call(leader, "one.vm.allocate", 'NAME="x"', False)
        zone.partition(leader)          # nftables, table ``onesim_<net>``
        ...

Command line: ``onesim-zone up N DIR [...]``, ``onesim-zone status DIR``,
``onesim-zone down DIR``. ``DIR/server-<i>/env`` holds ONE_LOCATION, ONE_AUTH, ONE_XMLRPC and
PATH for running ``onezone``/``onedb`` against server ``i``.

One module per job; :class:`LocalZone` (``zone``) ties them together:

| module | job |
|---|---|
| ``servers`` | a server's addresses and paths, the zone options, ``ZoneError``, polling |
| ``layout`` | writing a server's files: oned.conf, hooks, env file |
| ``bootstrap`` | the first server's solo→leader bootstrap and each follower's join |
| ``dbcopy`` | copying the leader's DB to a follower (SQLite, MySQL, or ``onedb``) |
| ``processes`` | starting, signalling and reaping the oned processes |
| ``faults`` | network partitions with nftables |
| ``cli`` | the ``onesim-zone`` command |
"""

from onesim.zone_local.cli import main
from onesim.zone_local.servers import ZoneError, ZoneOptions, ZoneServer
from onesim.zone_local.zone import LocalZone

__all__ = ["LocalZone", "ZoneError", "ZoneOptions", "ZoneServer", "main"]
