"""oned.conf semantics: per-section defaults, validation messages, effective-config dump."""

import re
import xml.etree.ElementTree as ET

import pytest

from onesim.config import (
    RAFT_BUILTIN_DEFAULTS,
    ConfigError,
    configuration_xml,
    dump_effective,
    from_template,
)
from onesim.layout import FILES_DIR
from onesim.template import parse


def config_of(text):
    return from_template(parse(text))


def test_whole_raft_section_missing_takes_builtin_defaults():
    raft = config_of("PORT = 2633\n").raft
    # docs/opennebula-raft.md §3.2, column "built-in default if the whole RAFT section is absent".
    assert (
        raft.limit_purge,
        raft.log_retention,
        raft.log_purge_timeout_s,
        raft.election_timeout_ms,
        raft.broadcast_timeout_ms,
        raft.xmlrpc_timeout_ms,
    ) == (100000, 500000, 600, 1500, 500, 100)
    assert RAFT_BUILTIN_DEFAULTS["LOG_RETENTION"] == 500000


def test_present_raft_section_is_not_filled_in():
    config = config_of("RAFT = [ ELECTION_TIMEOUT_MS = 800 ]\n")
    assert config.raft.election_timeout_ms == 800
    # Missing keys are not taken from the defaults: the simulator uses 0 and warns.
    assert config.raft.broadcast_timeout_ms == 0
    assert config.raft.log_retention == 0
    assert "BROADCAST_TIMEOUT_MS" in config.raft.missing
    assert "RAFT attribute XMLRPC_TIMEOUT_MS not set, using 0" in config.warnings


def test_shipped_oned_conf_values():
    config = config_of((FILES_DIR / "etc" / "oned.conf").read_text())
    assert config.port == 2633
    assert config.listen_address == "0.0.0.0"
    assert config.federation.server_id == -1 and not config.federation.is_ha
    assert config.db.backend == "sqlite" and config.db.timeout_ms == 2500
    assert (config.raft.log_retention, config.raft.election_timeout_ms) == (250000, 5000)
    assert (config.raft.xmlrpc_timeout_ms, config.raft.log_purge_timeout_s) == (1000, 60)
    # The hooks are commented out in the shipped file.
    assert config.leader_hook is None and config.follower_hook is None


def test_missing_federation_section_is_solo_standalone():
    federation = config_of("PORT = 2633\n").federation
    assert (federation.mode, federation.zone_id, federation.server_id) == ("STANDALONE", 0, -1)


def test_standalone_forces_zone_zero():
    federation = config_of("FEDERATION = [ MODE = standalone, ZONE_ID = 7, SERVER_ID = 2 ]\n")
    assert federation.federation.zone_id == 0
    assert federation.federation.server_id == 2 and federation.federation.is_ha


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'FEDERATION = [ MODE = "BOSS" ]',
            "FEDERATION MODE must be one of STANDALONE, MASTER, SLAVE or CACHE.",
        ),
        (
            'FEDERATION = [ MODE = "MASTER" ]',
            "FEDERATION ZONE_ID must be set for federated instances.",
        ),
        ('FEDERATION = [ MODE = "SLAVE", ZONE_ID = 100 ]', "MASTER_ONED endpoint is missing."),
        ('FEDERATION = [ MODE = "CACHE", ZONE_ID = 100 ]', "MASTER_ONED is missing."),
        ('DB = [ BACKEND = "postgresql" ]', "DB BACKEND must be sqlite or mysql."),
    ],
)
def test_validation_messages(text, message):
    with pytest.raises(ConfigError) as info:
        config_of(text + "\n")
    assert str(info.value) == message


def test_db_defaults_for_mysql():
    db = config_of('DB = [ BACKEND = "mysql" ]\n').db
    assert (db.server, db.port, db.user, db.passwd, db.db_name) == (
        "localhost",
        0,
        "oneadmin",
        "oneadmin",
        "opennebula",
    )
    assert db.errors_limit == 25 and db.connections == 25


def test_empty_hook_command_is_not_registered_with_warning():
    config = config_of(
        'RAFT_LEADER_HOOK = [ COMMAND = "", ARGUMENTS = "leader eth0 1.2.3.4/24" ]\n'
    )
    assert config.leader_hook is None
    assert "Empty COMMAND attribute in RAFT_LEADER_HOOK. Hook not registered!" in config.warnings


def test_dump_matches_follower_cleanup_pattern():
    config = config_of(
        'RAFT_FOLLOWER_HOOK = [ COMMAND = "raft/vip.sh", '
        'ARGUMENTS = "follower eth0 10.3.3.2/24" ]\n'
        'DB = [ BACKEND = "mysql", PASSWD = "s3cret" ]\n'
    )
    dump = dump_effective(config)
    # The regular expression follower_cleanup uses (docs/opennebula-raft.md §4.2).
    match = re.search(
        r"^RAFT_FOLLOWER_HOOK=(?:ARGUMENTS=(.*),)?COMMAND=(.*)$", dump, flags=re.MULTILINE
    )
    assert match.groups() == ("follower eth0 10.3.3.2/24", "raft/vip.sh")
    assert "s3cret" not in dump


MYSQL_FRONT_END = (
    'DB = [ BACKEND = "mysql", SERVER = "10.0.0.5", PORT = 0, USER = "oneadmin",\n'
    '       PASSWD = "s3cr&t", DB_NAME = "opennebula", CONNECTIONS = 25 ]\n'
    'FEDERATION = [ MODE = "STANDALONE", ZONE_ID = 0, SERVER_ID = 2, MASTER_ONED = "" ]\n'
)


def serversync_reads(config_xml: str) -> dict:
    """What onezone serversync's Replicator reads from one.system.config (fetch_db_config,
    fetch_fed_config in src/cli/one_helper/onezone_helper.rb): the first match's text."""
    root = ET.fromstring(config_xml)
    assert root.tag == "OPENNEBULA_CONFIGURATION"
    paths = ("BACKEND", "SERVER", "USER", "PASSWD", "DB_NAME", "PORT")
    reads = {key: root.findtext(f"DB/{key}") for key in paths}
    reads.update({key: root.findtext(f"FEDERATION/{key}") for key in ("SERVER_ID", "ZONE_ID")})
    return reads


def test_system_config_holds_what_serversync_reads():
    body = configuration_xml(parse(MYSQL_FRONT_END), admin=True)

    assert serversync_reads(body) == {
        "BACKEND": "mysql",
        "SERVER": "10.0.0.5",
        "USER": "oneadmin",
        "PASSWD": "s3cr&t",
        "DB_NAME": "opennebula",
        "PORT": "0",  # serversync reads "0" as 3306
        "SERVER_ID": "2",
        "ZONE_ID": "0",
    }
    # VectorAttribute::to_xml: keys in map order, every value in CDATA.
    assert (
        "<DB><BACKEND><![CDATA[mysql]]></BACKEND><CONNECTIONS><![CDATA[25]]></CONNECTIONS>"
        "<DB_NAME><![CDATA[opennebula]]></DB_NAME><PASSWD><![CDATA[s3cr&t]]></PASSWD>"
        "<PORT><![CDATA[0]]></PORT><SERVER><![CDATA[10.0.0.5]]></SERVER>"
        "<USER><![CDATA[oneadmin]]></USER></DB>"
    ) in body


def test_system_config_hides_the_db_connection_outside_oneadmin():
    """NebulaTemplate's hidden_attributes: DB's connection keys become *** (no CDATA)."""
    body = configuration_xml(parse(MYSQL_FRONT_END), admin=False)

    assert (
        "<DB><BACKEND>***</BACKEND><CONNECTIONS><![CDATA[25]]></CONNECTIONS>"
        "<DB_NAME>***</DB_NAME><PASSWD>***</PASSWD><PORT>***</PORT><SERVER>***</SERVER>"
        "<USER>***</USER></DB>"
    ) in body
    assert serversync_reads(body)["SERVER_ID"] == "2"
