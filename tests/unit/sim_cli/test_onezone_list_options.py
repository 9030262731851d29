"""``onezone list`` options as CLIHelper applies them (filter, size, expand, adjust) and the
option values Ruby's OptionParser refuses, with the help texts of those options."""

from __future__ import annotations

import pytest
from sim_cli_support import zone_xml
from stub_oned import closed_port_endpoint, success_string

HEADER = "C   ID NAME            ENDPOINT                                      FED_INDEX  STAT\n"


@pytest.fixture
def three_zones(stubs):
    """Zones 0 (on), 101 'second' (off) and 12345 'third-zone-name' (on); FED_INDEX '-'."""
    down = closed_port_endpoint()
    zones = (
        zone_xml([], endpoint=down)
        + zone_xml([], zone_id=101, name="second", state=1, endpoint=down)
        + zone_xml([], zone_id=12345, name="third-zone-name-long", endpoint=down)
    )
    main = stubs({"one.zonepool.info": success_string(f"<ZONE_POOL>{zones}</ZONE_POOL>")})
    return main, down


def row(zone_id: str, name: str, endpoint: str, stat: str, id_width: int = 4) -> str:
    return f"  {zone_id:>{id_width}} {name[:15]:<15} {endpoint:<45} -          {stat}\n"


def test_filter_keeps_matching_rows_and_header_only_when_none_match(three_zones, onezone):
    main, down = three_zones

    on = onezone("list", "-f", "stat=on", endpoint=main.endpoint)
    contains = onezone("list", "--filter", "NAME~ec", endpoint=main.endpoint)
    none = onezone("list", "-f", "name=nothing", endpoint=main.endpoint)

    assert (on.returncode, on.stderr) == (0, "")
    # ID is an :adjust column: it widens to the longest shown ID (5), header included.
    assert on.stdout == (
        "C    ID NAME            ENDPOINT                                      FED_INDEX  STAT\n"
        + row("0", "OpenNebula", down, "on", 5)
        + row("12345", "third-zone-name-long", down, "on", 5)
    )
    assert contains.stdout == HEADER + row("101", "second", down, "off")
    assert (none.returncode, none.stdout, none.stderr) == (0, HEADER, "")


def test_filter_operators_and_or(three_zones, onezone):
    main, down = three_zones

    either = onezone(
        "list", "-f", "id=0,name=second", "--operator", "or", "--no-header", endpoint=main.endpoint
    )
    both = onezone("list", "-f", "id=0,name=second", "--no-header", endpoint=main.endpoint)
    not_on = onezone("list", "-f", "stat!=on", "--no-header", endpoint=main.endpoint)

    assert either.stdout == row("0", "OpenNebula", down, "on") + row("101", "second", down, "off")
    assert (both.returncode, both.stdout) == (0, "")
    assert not_on.stdout == row("101", "second", down, "off")


def test_filter_less_or_equal_parses_as_less_than_like_ruby(three_zones, onezone):
    """The operators are tried in the order =, !=, <, <=, ...: "id<=2" is ID < "=2", a string
    comparison every ID passes ("0" < "=")."""
    main, _ = three_zones

    result = onezone("list", "-f", "id<=2", "-l", "id", "--no-header", endpoint=main.endpoint)

    assert result.stdout == "   0\n 101\n12345\n"


@pytest.mark.parametrize(
    ("expression", "message"),
    [("bogus=1", "Column 'bogus' not found\n"), ("name", "Expression 'name' incorrect\n")],
)
def test_filter_errors(three_zones, onezone, expression, message):
    main, _ = three_zones

    result = onezone("list", "-f", expression, endpoint=main.endpoint)

    assert (result.returncode, result.stdout, result.stderr) == (255, "", message)


def test_size_cuts_a_column(three_zones, onezone):
    """With ``-l`` Ruby measures the :adjust column ID at its --list position (0) in rows kept
    in default order (CURRENT there): it never widens, and "%4s" lets 12345 overflow."""
    main, down = three_zones

    result = onezone("list", "--size", "NAME=5", "-l", "id,name,stat", endpoint=main.endpoint)
    default = onezone("list", "-s", "name=5,endpoint=10", endpoint=main.endpoint)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == ("  ID NAME  STAT\n   0 OpenN on\n 101 secon off\n12345 third on\n")
    assert default.stdout == (
        "C    ID NAME  ENDPOINT   FED_INDEX  STAT\n"
        f"      0 OpenN {down[:10]} -          on\n"
        f"    101 secon {down[:10]} -          off\n"
        f"  12345 third {down[:10]} -          on\n"
    )


def test_size_of_an_unknown_column_fails(three_zones, onezone):
    main, _ = three_zones

    result = onezone("list", "-s", "nope=3", endpoint=main.endpoint)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == "undefined method `[]=' for nil:NilClass\n"


def test_expand_without_value_is_accepted_and_skips_adjust(three_zones, onezone):
    """``--expand`` alone expands every column (only on a terminal: here nothing to fill),
    and with expand-all the :adjust widening is skipped, so a 5-digit ID overflows its 4."""
    main, down = three_zones

    at_end = onezone("list", "--expand", endpoint=main.endpoint)
    before_option = onezone("list", "--expand", "--no-header", endpoint=main.endpoint)
    with_value = onezone("list", "--expand", "name=0.5", "-l", "id", endpoint=main.endpoint)

    assert (at_end.returncode, at_end.stderr) == (0, "")
    assert at_end.stdout == (
        HEADER
        + row("0", "OpenNebula", down, "on")
        + row("101", "second", down, "off")
        + f"  12345 third-zone-name {down:<45} -          on\n"
    )
    assert before_option.stdout == at_end.stdout[len(HEADER) :]
    assert (with_value.returncode, with_value.stdout) == (0, "  ID\n   0\n 101\n12345\n")


@pytest.mark.parametrize("option", ["--endpoint", "--user", "--password"])
def test_empty_global_option_value_is_refused_before_any_call(stubs, onezone, option):
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    result = onezone("show", "0", option, "", endpoint=main.endpoint)

    assert (result.returncode, result.stdout) == (255, "")
    assert result.stderr == f"invalid argument: {option} \n"
    assert main.calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "", "-r", "http://fe9:2633/RPC2"], "invalid argument: --name "),
        (["-n", "fe9", "--rpc", ""], "invalid argument: --rpc "),
        (["-n", "", "-r", "http://fe9:2633/RPC2"], "invalid argument: -n "),
        (["--name=", "-r", "http://fe9:2633/RPC2"], "invalid argument: --name="),
        (["--na", "", "-r", "http://fe9:2633/RPC2"], "invalid argument: --na "),
    ],
)
def test_empty_server_add_values_are_refused(stubs, onezone, args, message):
    main = stubs({"one.zone.addserver": success_string("0")})

    result = onezone("server-add", "0", *args, endpoint=main.endpoint)

    assert (result.returncode, result.stdout, result.stderr) == (255, "", message + "\n")
    assert main.calls == []


def test_integer_and_string_list_options(three_zones, onezone):
    main, _ = three_zones

    delay = onezone("list", "-d", "soon", endpoint=main.endpoint)
    attached = onezone("list", "-dx1", endpoint=main.endpoint)
    csv_del = onezone("list", "--csv", "--csv-del", "", endpoint=main.endpoint)

    assert (delay.returncode, delay.stderr) == (255, "invalid argument: -d soon\n")
    assert (attached.returncode, attached.stderr) == (255, "invalid argument: -dx1\n")
    assert (csv_del.returncode, csv_del.stderr) == (255, "invalid argument: --csv-del \n")


def test_keep_is_a_flag(stubs, onezone):
    zone = zone_xml([], endpoint="http://10.0.0.7:2633/RPC2")
    main = stubs({"one.zone.info": success_string(zone)})

    result = onezone("set", "0", "-k", endpoint=main.endpoint)

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "Type: export ONE_XMLRPC=http://10.0.0.7:2633/RPC2\n"


LIST_HELP_OPTIONS = (
    "     -f, --filter x,y,z        Filter data. An array is specified with\n"
    "                               column=value pairs. Valid operators\n"
    "                               =,!=,<,<=,>,>=,~ e.g. NAME=test (match name with\n"
    "                               test) NAME~test (match every NAME containing the\n"
    "                               substring 'test')\n",
    "     -s, --size x=size,y=size  Change the size of selected columns. For example:\n"
    '                               $ onevm list --size "name=20" will make column\n'
    "                               name size 20.\n",
    "     --expand [x=prop,y=prop]  Expands the columns size to fill the terminal.\n"
    "                               For example: $onevm list --expand\n"
    "                               name=0.4,group=0.6 will expand name 40% and\n"
    "                               group 60%. $onevm list --expand name,group will\n"
    "                               expand name and group based on its size.$onevm\n"
    "                               list --expand will expand all columns.\n",
)


@pytest.mark.parametrize("args", [["list", "--help"], ["--help"]])
def test_help_long_descriptions_of_list_options(onezone, args):
    result = onezone(*args)

    assert result.returncode == 0
    for block in LIST_HELP_OPTIONS:
        assert block in result.stdout


GLOBAL_HELP = (
    "     -v, --verbose             Verbose mode\n"
    "     -h, --help                Show this message\n"
    "     -V, --version             Show version and copyright information\n"
    "     --user name               User name used to connect to OpenNebula\n"
    "     --password password       Password to authenticate with OpenNebula\n"
    "     --endpoint endpoint       URL of OpenNebula xmlrpc frontend\n"
)


def test_create_requires_its_file(stubs, onezone, tmp_path):
    main = stubs({"one.zone.allocate": success_string("0")})

    missing = onezone("create", endpoint=main.endpoint)
    nonexistent = onezone("create", str(tmp_path / "nonexistent"), endpoint=main.endpoint)
    help_text = onezone("--help")

    assert missing.returncode == 255
    assert missing.stderr == "Command create requires one parameter to run\n"
    assert missing.stdout == (
        "## USAGE\ncreate <file>\n        Creates a new Zone\n\n## OPTIONS\n" + GLOBAL_HELP
    )
    assert (nonexistent.returncode, nonexistent.stdout) == (255, "")
    assert nonexistent.stderr == "command create: argument 0 must be one of file\n"
    assert "   * create <file>\n        Creates a new Zone\n\n" in help_text.stdout
    assert main.calls == []


def test_short_letter_completes_to_the_only_long_option(stubs, onezone):
    main = stubs({"one.zone.info": success_string(zone_xml([]))})

    show = onezone("show", "0", "-e", main.endpoint, endpoint="http://127.0.0.1:1/RPC2")
    ambiguous = onezone("list", "-e", main.endpoint)
    missing = onezone("show", "0", "-e")

    assert (show.returncode, show.stderr) == (0, "")
    assert main.methods() == ["one.zone.info"]
    assert (ambiguous.returncode, ambiguous.stderr) == (255, "ambiguous option: -e\n")
    assert (missing.returncode, missing.stderr) == (255, "missing argument: -e\n")


def test_long_option_completion_like_optparse(three_zones, onezone):
    """Word-wise abbreviations, any case, ``_`` for ``-``; a name prefixing all the other
    candidates wins (``--cs``: csv over csv-del); otherwise ambiguous."""
    main, down = three_zones
    expected = 'CURRENT;ID;NAME;ENDPOINT;FED_INDEX;STAT\n""' + f";0;OpenNebula;{down};-;on\n"

    for args in (
        ["--cs", "--cs-d", ";"],
        ["--CSV", "--csv_del", ";"],
        ["--csv", "--csv-d=;"],
    ):
        result = onezone("list", *args, "-f", "id=0", "--ENDP", main.endpoint)
        assert (result.returncode, result.stderr, result.stdout) == (0, "", expected), args
    ambiguous = onezone("list", "--no", endpoint=main.endpoint)
    assert (ambiguous.returncode, ambiguous.stderr) == (255, "ambiguous option: --no\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "0", "--josn"], "invalid option: --josn\nDid you mean?  json"),
        (["show", "0", "--endpont", "x"], "invalid option: --endpont\nDid you mean?  endpoint"),
        (["list", "--nohead"], "invalid option: --nohead\nDid you mean?  no-header"),
        (["show", "0", "--bogus"], "invalid option: --bogus"),
        (["list", "--no"], "ambiguous option: --no"),
    ],
)
def test_did_you_mean_hint_like_optparse(onezone, args, message):
    result = onezone(*args, endpoint=closed_port_endpoint())

    assert (result.returncode, result.stdout, result.stderr) == (255, "", message + "\n")


def test_spell_checker_reference_values():
    from onesim.cli import did_you_mean

    # the textbook Jaro-Winkler and Levenshtein examples
    assert round(did_you_mean.jaro_winkler("martha", "marhta"), 3) == 0.961
    assert round(did_you_mean.jaro_winkler("dwayne", "duane"), 3) == 0.84
    assert did_you_mean.levenshtein("kitten", "sitting") == 3
    assert did_you_mean.spell_check("josn", ["xml", "json", "yaml"]) == ["json"]
