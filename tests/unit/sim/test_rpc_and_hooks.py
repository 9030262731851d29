"""Return arrays, i8 encoding, hook command resolution, purge arithmetic, layout paths."""

import xmlrpc.client

from onesim import rpc
from onesim.config import HookConfig
from onesim.logdb import purge_plan
from onesim.oned.hooks import hook_argv, resolve_command
from onesim.paths import Paths


def test_success_array():
    assert rpc.success(0) == [True, 0, 0]


def test_failure_array_has_five_items_and_i8_last():
    reply = rpc.failure("one.zone.addserver", rpc.ACTION, "Missing NAME in SERVER")
    assert reply == [False, "[one.zone.addserver] Missing NAME in SERVER", 0x800, -1, -1]
    body = xmlrpc.client.dumps((reply,), methodresponse=True)
    assert "<i8>-1</i8>" in body
    assert body.count("<int>") == 2  # code and resp_id stay plain ints


def test_error_codes():
    assert (rpc.AUTHENTICATION, rpc.AUTHORIZATION, rpc.NO_EXISTS, rpc.ACTION) == (
        0x100,
        0x200,
        0x400,
        0x800,
    )
    assert (rpc.XML_RPC_API, rpc.INTERNAL, rpc.ALLOCATE, rpc.LOCKED, rpc.REPLICATION) == (
        0x1000,
        0x2000,
        0x4000,
        0x8000,
        0x10000,
    )


def test_standard_messages():
    assert rpc.authentication_failure("one.zone.info")[1] == (
        "[one.zone.info] User couldn't be authenticated, aborting call."
    )
    assert rpc.no_exists("one.zone.info", "zone", 5)[1] == "[one.zone.info] Error getting zone [5]."


def test_i8_round_trips_large_values():
    body = xmlrpc.client.dumps((rpc.I8(2**40),))
    assert "<i8>1099511627776</i8>" in body
    assert xmlrpc.client.loads(body)[0] == (2**40,)


def test_relative_hook_command_keeps_double_slash_system_wide():
    remotes = Paths.system_wide().remotes
    assert resolve_command("raft/vip.sh", remotes) == "/var/lib/one/remotes//hooks/raft/vip.sh"


def test_relative_hook_command_self_contained():
    remotes = Paths.self_contained_at("/opt/one").remotes
    assert resolve_command("raft/vip.sh", remotes) == "/opt/one/var/remotes//hooks/raft/vip.sh"


def test_absolute_hook_command_is_used_as_is():
    assert resolve_command("/usr/local/bin/failover", "/x/") == "/usr/local/bin/failover"


def test_hook_arguments_split_on_whitespace_without_quoting():
    hook = HookConfig("RAFT_LEADER_HOOK", "raft/vip.sh", 'leader  eth0 "10.0.0.1/24"')
    assert hook_argv(hook) == ["raft/vip.sh", "leader", "eth0", '"10.0.0.1/24"']


def test_hook_arguments_capped_at_49():
    hook = HookConfig("RAFT_LEADER_HOOK", "x", " ".join(str(n) for n in range(60)))
    assert len(hook_argv(hook)) == 1 + 49


def test_purge_keeps_newest_retention_applied_records():
    assert purge_plan(list(range(0, 10)), retention=3, limit=None) == [0, 1, 2, 3, 4, 5, 6]


def test_purge_limit_caps_deletions_oldest_first():
    assert purge_plan(list(range(0, 10)), retention=3, limit=2) == [0, 1]


def test_purge_with_fewer_records_than_retention_deletes_nothing():
    assert purge_plan([0, 1, 2], retention=250000, limit=100000) == []


def test_system_wide_paths():
    paths = Paths.from_env({})
    assert str(paths.oned_conf) == "/etc/one/oned.conf"
    assert str(paths.lock_file) == "/var/lock/one/one"
    assert str(paths.one_auth) == "/var/lib/one/.one/one_auth"
    assert str(paths.config_dump) == "/var/lib/one/config"
    assert str(paths.oned_log) == "/var/log/one/oned.log"


def test_self_contained_paths_and_one_auth_override():
    paths = Paths.from_env({"ONE_LOCATION": "/srv/one", "ONE_AUTH": "/tmp/auth"})
    assert str(paths.oned_conf) == "/srv/one/etc/oned.conf"
    assert str(paths.lock_file) == "/srv/one/var/.lock"
    assert str(paths.sqlite_db) == "/srv/one/var/one.db"
    assert str(paths.one_auth) == "/tmp/auth"
