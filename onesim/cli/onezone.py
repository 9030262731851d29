"""``onezone``: the OpenNebula zone CLI (7.0 behaviour) for the simulator and real front-ends.

Commands: ``list``, ``show``, ``server-add``, ``server-del``, ``server-reset``, ``enable``,
``disable``, ``create``, ``rename``, ``update`` (with a file), ``delete`` and ``set``;
``serversync`` needs ssh/augeas and a real installation and is refused. Global options:
``-v -h -V --user --password --endpoint``.

``show`` calls ``one.zone.info(id, false)`` on the CLI endpoint, then
``one.zone.raftstatus`` on every ``SERVER/ENDPOINT`` in turn, each with its own 5 s
timeout and the ONE_AUTH credentials (never ``--user/--password``); a failed call gives the
server ``-`` in all six Raft fields (shown as ``error``).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import termios
from pathlib import Path

from . import xmldoc, zone_views
from .cmdparser import (
    ARRAY,
    INTEGER,
    ArgFormat,
    CliError,
    CmdParser,
    Command,
    Invocation,
    Option,
    puts,
)
from .one_client import Client, EndpointError, NoOneAuth, OneError
from .table import EXPAND_ALL, ListOptions, terminal_width
from .versions import version_banner

__all__ = ["RAFTSTATUS_TIMEOUT", "build_parser", "main", "server_template"]

#: Seconds each per-server ``one.zone.raftstatus`` call may take (``Zone#info_extended``).
RAFTSTATUS_TIMEOUT = 5

# -- options ---------------------------------------------------------------------------

VERBOSE = Option("verbose", "--verbose", "-v", description="Verbose mode")
HELP = Option("help", "--help", "-h", description="Show this message")
VERSION = Option("version", "--version", "-V", description="Show version and copyright information")
USER = Option(
    "user", "--user", metavar="name", description="User name used to connect to OpenNebula"
)
PASSWORD = Option(
    "password",
    "--password",
    metavar="password",
    description="Password to authenticate with OpenNebula",
)
ENDPOINT = Option(
    "endpoint", "--endpoint", metavar="endpoint", description="URL of OpenNebula xmlrpc frontend"
)
GLOBAL_OPTIONS = (VERBOSE, HELP, VERSION, USER, PASSWORD, ENDPOINT)

XML = Option("xml", "--xml", "-x", description="Show the resource in xml format")
JSON = Option("json", "--json", "-j", description="Show the resource in JSON format")
YAML = Option("yaml", "--yaml", "-y", description="Show the resource in YAML format")
FORMAT = (XML, JSON, YAML)

NUMERIC = Option("numeric", "--numeric", "-n", description="Do not translate user and group IDs")
DESCRIBE = Option("describe", "--describe", description="Describe list columns")
#: ``CLIHelper::FILTER``'s description (its newline and padding vanish in the word wrap).
FILTER_DESCRIPTION = (
    "Filter data. An array is specified with\n"
    + " " * 31
    + "column=value pairs."
    + " " * 31
    + "Valid operators =,!=,<,<=,>,>=,~"
    + " " * 31
    + "e.g. NAME=test (match name with test)"
    + " " * 31
    + "NAME~test (match every NAME containing"
    + " " * 31
    + "the substring 'test')"
)
LIST_OPTIONS = (
    Option(
        "list", "--list", "-l", "x,y,z", "Selects columns to display with list command", True,
        ARRAY,
    ),
    Option("listconf", "--listconf", "-c", "conf", "Selects a predefined column list", True),
    Option(
        "delay", "--delay", "-d", "x", "Sets the delay in seconds for top command", True, INTEGER
    ),
    Option("filter", "--filter", "-f", "x,y,z", FILTER_DESCRIPTION, True, ARRAY),
    Option(
        "operator",
        "--operator",
        None,
        "operator",
        "Logical operator used on filters: AND, OR. Default: AND.",
    ),
    Option("csv", "--csv", description="Write table in csv format"),
    Option("csv_del", "--csv-del", None, "del", "Set delimiter for csv output"),
    Option("no_pager", "--no-pager", description="Disable pagination"),
    Option("no_header", "--no-header", description="Hides the header of the table"),
    Option(
        "adjust", "--adjust", None, "x,y,z", "Adjust size to not truncate selected columns",
        format=ARRAY,
    ),
    Option(
        "size",
        "--size",
        "-s",
        "x=size,y=size",
        "Change the size of selected columns. For example: "
        '$ onevm list --size "name=20" will make column name size 20.',
        True,
        ARRAY,
    ),
    Option(
        "expand",
        "--expand",
        None,
        "[x=prop,y=prop]",
        "Expands the columns size to fill the terminal. For example: "
        "$onevm list --expand name=0.4,group=0.6 will expand name 40% and group 60%. "
        "$onevm list --expand name,group will expand name and group based on its size."
        "$onevm list --expand will expand all columns.",
        format=ARRAY,
    ),
    Option("no_expand", "--no-expand", description="Disable expand"),
    *FORMAT,
    NUMERIC,
    DESCRIBE,
)  # fmt: skip

SERVER_NAME = Option("server_name", "--name", "-n", "server_name", "Zone server name")
SERVER_ENDPOINT = Option("server_rpc", "--rpc", "-r", "rpc endpoint", "Zone server RPC endpoint")
APPEND = Option(
    "append", "--append", "-a", description="Append new attributes to the current template"
)
KEEP = Option(  # Ruby declares it with a String format but no argument: a plain flag
    "keep",
    "--keep",
    "-k",
    description="Don't overwrite endpoint file located in home folder, use it as a temporary zone.",
)
DATABASE = Option("db", "--db", description="Also sync database")

_RANGE = re.compile(r"^(?:(?:\d+\.\.\d+|\d+),)*(?:\d+\.\.\d+|\d+)$")
_RUBY_INT = re.compile(r"^[0123456789]+$", re.MULTILINE)  # Ruby ^/$ are line anchors


def server_template(name: str, rpc: str) -> str:
    """The SERVER template exactly as the 7.0 CLI sends it (an indented heredoc)."""
    return (
        "            SERVER = [\n"
        f'              NAME="{name}",\n'
        f'              ENDPOINT="{rpc}"\n'
        "            ]\n"
    )


class ZoneCli:
    """State of one ``onezone`` run: the client built by the before hook, and the actions."""

    def __init__(self, env=None, stdout=None, stderr=None, stdin=None):
        self.env = os.environ if env is None else env
        self.out = sys.stdout if stdout is None else stdout
        self.err = sys.stderr if stderr is None else stderr
        self.stdin = sys.stdin if stdin is None else stdin
        self.client: Client | None = None

    # -- client -------------------------------------------------------------------------
    def _prompt_password(self) -> str:
        self.out.write("Password: ")
        self.out.flush()
        try:
            fd = self.stdin.fileno()
            old = termios.tcgetattr(fd)
        except (OSError, ValueError, termios.error, AttributeError):
            raise CliError("Inappropriate ioctl for device") from None
        new = termios.tcgetattr(fd)
        new[3] &= ~termios.ECHO
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, new)
            line = self.stdin.readline()
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
        self.out.write("\n")
        return line[:-1] if line else line

    def set_client(self, invocation: Invocation) -> None:
        options = invocation.options
        secret = None
        user = options.get("user")
        if user:
            password = options.get("password") or self._prompt_password()
            secret = f"{user}:{password}"
        try:
            self.client = Client(secret, options.get("endpoint"), env=self.env, sync=True)
        except (NoOneAuth, EndpointError) as exc:
            raise CliError(str(exc)) from None

    def server_client(self, endpoint: str) -> Client:
        """A client for one server endpoint: ONE_AUTH credentials and a 5 s timeout."""
        try:
            return Client(None, endpoint, timeout=RAFTSTATUS_TIMEOUT, env=self.env)
        except (NoOneAuth, EndpointError) as exc:  # the command fails as a whole
            raise CliError(str(exc)) from None

    # -- data ---------------------------------------------------------------------------
    def _pool(self) -> xmldoc.Element:
        document = self.client.call("zonepool.info")
        return _parse_root(document, "ZONE_POOL")

    def _zone(self, zone_id: int) -> xmldoc.Element:
        document = self.client.call("zone.info", zone_id, False)
        return _parse_root(document, "ZONE")

    def _raft_fields(self, endpoint: str) -> list[tuple[str, str]]:
        client = self.server_client(endpoint)
        try:
            reply = client.call("zone.raftstatus")
        except OneError:
            return [(name, "-") for name, _ in zone_views.RAFT_FIELDS]
        try:
            raft = xmldoc.parse(str(reply))
        except ValueError:
            raft = None
        fields = []
        for name, path in zone_views.RAFT_FIELDS:
            step = path.split("/", 1)[1]
            node = raft.find(step) if raft is not None and raft.name == "RAFT" else None
            fields.append((name, node.text if node is not None else "-"))
        return fields

    def zone_extended(self, zone_id: int) -> xmldoc.Element:
        """``Zone#info_extended``: zone.info, then one raftstatus per server, in order."""
        zone = self._zone(zone_id)
        for server in zone.find_all("SERVER_POOL/SERVER"):
            endpoint = "".join(e.text for e in server.elements("ENDPOINT"))
            for name, value in self._raft_fields(endpoint):
                server.append_text_element(name, value)
        return zone

    def fed_index(self, endpoint: str | None) -> str:
        """FED_INDEX of ``onezone list``: raftstatus on the zone endpoint, ``-`` on error."""
        client = self.server_client(endpoint)
        try:
            reply = client.call("zone.raftstatus")
        except OneError:
            return "-"
        try:
            raft = xmldoc.parse(str(reply))
        except ValueError:
            return ""
        if raft.name != "RAFT":
            return ""
        return "".join(e.text for e in raft.elements("FEDLOG_INDEX"))

    # -- argument formats ---------------------------------------------------------------
    def _name_to_id(self, name: str, pool: xmldoc.Element) -> tuple[int, object]:
        matches = [z for z in pool.elements("ZONE") if _text(z, "NAME") == name]
        if not matches:
            return -1, f"ZONE named {name} not found."
        if len(matches) > 1:
            return -1, f"There are multiple ZONEs with name {name}."
        return 0, zone_views.ruby_to_i(_text(matches[0], "ID"))

    def _get_pool(self) -> tuple[int, object]:
        try:
            return 0, self._pool()
        except OneError as exc:
            return -1, exc.message or "OpenNebula ZONE name not found, use the ID instead"

    def to_id(self, arg: str, invocation: Invocation) -> tuple[int, object]:
        if _RUBY_INT.search(arg):
            result = (0, zone_views.ruby_to_i(arg))
        else:
            code, pool = self._get_pool()
            result = (code, pool) if code != 0 else self._name_to_id(arg, pool)
        invocation.state["current_zone"] = result[1]
        return result

    def list_to_id(self, arg: str, _invocation: Invocation) -> tuple[int, object]:
        code, pool = self._get_pool()
        if code != 0:
            return code, pool
        ids = []
        for name in arg.split(","):
            if _RUBY_INT.search(name):
                ids.append(zone_views.ruby_to_i(name))
                continue
            code, value = self._name_to_id(name, pool)
            if code != 0:
                return code, value
            ids.append(value)
        return 0, ids

    def server_id(self, arg: str, invocation: Invocation) -> tuple[int, object]:
        """7.0: a numeric ID, or a NAME unique in the zone's SERVER_POOL."""
        if re.fullmatch(r"\d+", arg):
            return 0, int(arg)
        zone_id = invocation.state.get("current_zone")
        ids = []
        try:
            zone = self._zone(zone_id) if isinstance(zone_id, int) else None
        except (OneError, CliError):
            zone = None
        if zone is not None:
            ids = [
                _text(s, "ID")
                for s in zone.find_all("SERVER_POOL/SERVER")
                if _text(s, "NAME") == arg
            ]
        if len(ids) != 1:
            return -1, f"{arg} not found or duplicated"
        return 0, zone_views.ruby_to_i(ids[0])

    # -- actions ------------------------------------------------------------------------
    def _perform(
        self, invocation: Invocation, zone_id: int, verbose: str, call
    ) -> tuple[int, str] | int:
        try:
            call(zone_id)
        except OneError as exc:
            return -1, exc.message
        if invocation.options.get("verbose"):
            puts(f"ZONE {zone_id}: {verbose}", self.out)
        return 0

    def _perform_all(self, invocation: Invocation, verbose: str, call) -> int:
        exit_code = 0
        for zone_id in invocation.args[0]:
            result = self._perform(invocation, zone_id, verbose, call)
            if result != 0:
                self.err.write(f"{result[1]}\n")
                exit_code = result[0]
        return exit_code

    def show(self, invocation: Invocation):
        options = invocation.options
        try:
            zone = self.zone_extended(invocation.args[0])
        except OneError as exc:
            return -1, exc.message
        if options.get("xml"):
            return 0, xmldoc.to_xml(zone)
        if options.get("json"):
            return 0, zone_views.render_json(zone_views.zone_hash(zone))
        if options.get("yaml"):
            return 0, zone_views.render_yaml(zone_views.zone_hash(zone))
        zone_views.zone_text(zone, self.out)
        return 0

    def list(self, invocation: Invocation):
        options = invocation.options
        if options.get("describe"):
            zone_views.pool_describe(self.out)
            return 0
        try:
            pool = self._pool()
        except OneError as exc:
            return -1, exc.message
        if options.get("xml"):
            puts(xmldoc.to_xml(pool), self.out)
        elif options.get("json"):
            puts(zone_views.render_json(zone_views.pool_hash(pool)), self.out)
        elif options.get("yaml"):
            puts(zone_views.render_yaml(zone_views.pool_hash(pool)), self.out)
        else:
            expand = options.get("expand") if "expand" in options else None
            if "expand" in options and expand is None:
                expand = EXPAND_ALL
            zone_views.pool_table(
                pool,
                current_endpoint=self.client.endpoint,
                fed_index=self.fed_index,
                out=self.out,
                options=ListOptions(
                    columns=options.get("list"),
                    filter=options.get("filter"),
                    operator=options.get("operator"),
                    adjust=options.get("adjust"),
                    size=options.get("size"),
                    expand=expand,
                    no_expand="no_expand" in options,
                    no_header="no_header" in options,
                    csv_delimiter=(options.get("csv_del") or ",") if options.get("csv") else None,
                ),
                expand_to=terminal_width(self.out),
            )
        return 0

    def server_add(self, invocation: Invocation):
        options = invocation.options
        name, rpc = options.get("server_name"), options.get("server_rpc")
        if name is None or rpc is None:
            self.err.write("To add a server set:\n\t-n <server name>\n\t-r <RPC endpoint>\n")
            return -1
        if not re.search(r"^(http|https)://", rpc, re.MULTILINE):
            puts("Wrong protocol specified. Only http or https allowed!", self.out)
            return -1
        template = server_template(name, rpc)
        return self._perform(
            invocation,
            invocation.args[0],
            "server added",
            lambda zid: self.client.call("zone.addserver", zid, template),
        )

    def server_del(self, invocation: Invocation):
        zone_id, server_id = invocation.args
        return self._perform(
            invocation,
            zone_id,
            "server deleted",
            lambda zid: self.client.call("zone.delserver", zid, server_id),
        )

    def server_reset(self, invocation: Invocation):
        zone_id, server_id = invocation.args
        return self._perform(
            invocation,
            zone_id,
            "server reset",
            lambda zid: self.client.call("zone.resetserver", zid, server_id),
        )

    def enable(self, invocation: Invocation):
        return self._perform_all(
            invocation, "enable zone", lambda zid: self.client.call("zone.enable", zid, True)
        )

    def disable(self, invocation: Invocation):
        return self._perform_all(
            invocation, "disable zone", lambda zid: self.client.call("zone.enable", zid, False)
        )

    def delete(self, invocation: Invocation):
        return self._perform_all(
            invocation, "deleted", lambda zid: self.client.call("zone.delete", zid)
        )

    def rename(self, invocation: Invocation):
        zone_id, name = invocation.args
        return self._perform(
            invocation, zone_id, "renamed", lambda zid: self.client.call("zone.rename", zid, name)
        )

    def create(self, invocation: Invocation):
        # 7.0 declares the file as required, so the stdin branch of its action is unreachable.
        template = Path(invocation.args[0]).read_text()
        try:
            zone_id = self.client.call("zone.allocate", template)
        except OneError as exc:
            return -1, exc.message
        puts(f"ID: {zone_id}", self.out)
        return 0

    def update(self, invocation: Invocation):
        zone_id = invocation.args[0]
        path = invocation.args[1] if len(invocation.args) > 1 else None
        if path is None:  # the real CLI opens $EDITOR on the current template
            return -1, "onezone update: the simulator needs a template file"
        template = Path(path).read_text()
        append = 1 if invocation.options.get("append") else 0
        return self._perform(
            invocation,
            zone_id,
            "modified",
            lambda zid: self.client.call("zone.update", zid, template, append),
        )

    def set_zone(self, invocation: Invocation):
        zone_id = invocation.args[0]
        try:
            zone = self._zone(zone_id)
        except OneError as exc:
            return -1, exc.message
        endpoint = _text(zone, "TEMPLATE/ENDPOINT")
        if endpoint is None:
            return -1, f"No Endpoint defined for Zone {zone_id}"
        if "keep" in invocation.options:
            puts(f"Type: export ONE_XMLRPC={endpoint}", self.out)
        else:
            home = self.env.get("HOME", "")
            Path(home, ".one", "one_endpoint").write_text(endpoint + "\n")
            puts(f'Endpoint changed to "{endpoint}" in {home}/.one/one_endpoint', self.out)
        flow = _text(zone, "TEMPLATE/ONEFLOW_ENDPOINT")
        if flow is None:
            return 0
        if "keep" in invocation.options:
            puts(f"Type: export ONEFLOW_URL={flow}", self.out)
        else:
            home = self.env.get("HOME", "")
            Path(home, ".one", "oneflow_endpoint").write_text(flow + "\n")
            puts(f'OneFlow Endpoint changed to "{flow}" in {home}/.one/oneflow_endpoint', self.out)
        return 0

    def serversync(self, _invocation: Invocation):
        # Needs ssh/rsync to another real front-end, root and the augeas gem.
        return -1, "onezone serversync is not available in the OpenNebula simulator"


def _text(element: xmldoc.Element, path: str) -> str | None:
    node = element.find(path)
    return None if node is None else node.text


def _parse_root(document: object, root: str) -> xmldoc.Element:
    """``XMLElement#initialize_xml``: the document must have the expected root element."""
    try:
        element = xmldoc.parse(str(document))
    except ValueError:
        element = None
    if element is None or element.name != root:
        raise CliError("undefined method 'xpath' for nil")
    return element


def _range(arg: str, _invocation: Invocation) -> tuple[int, object]:
    text = arg.replace(" ", "")
    if not _RANGE.search(text):
        return -1, None
    ids: list[int] = []
    for part in text.split(","):
        if ".." in part:
            low, high = (int(x) for x in part.split(".."))
            ids.extend(range(low, high + 1))
        else:
            ids.append(int(part))
    return 0, list(dict.fromkeys(ids))


def _file(arg: str, _invocation: Invocation) -> tuple[int, object]:
    return (0, arg) if os.path.isfile(arg) else (-1, None)


def build_parser(cli: ZoneCli) -> CmdParser:
    """The ``onezone`` command table bound to ``cli``."""
    formats = [
        ArgFormat("file", "Path to a file", _file),
        ArgFormat("range", "List of id's in the form 1,8..15", _range),
        ArgFormat("text", "String", lambda arg, _inv: (0, arg)),
        ArgFormat("zoneid", "OpenNebula ZONE name or id", cli.to_id),
        ArgFormat(
            "zoneid_list", "Comma-separated list of OpenNebula ZONE names or ids", cli.list_to_id
        ),
        ArgFormat("serverid", "Server name or id", cli.server_id),
    ]
    commands = [
        Command("create", "Creates a new Zone", (("file",),), (), cli.create),
        Command("rename", "Renames the Zone", (("zoneid",), ("name",)), (), cli.rename),
        Command(
            "server-add",
            "Add an OpenNebula server to this zone.",
            (("zoneid",),),
            (SERVER_NAME, SERVER_ENDPOINT),
            cli.server_add,
        ),
        Command(
            "server-del",
            "Delete an OpenNebula server from this zone.",
            (("zoneid",), ("serverid",)),
            (),
            cli.server_del,
        ),
        Command(
            "server-reset",
            "Reset follower log index. This should be trigger when a follower DB has\nbeen reset.",
            (("zoneid",), ("serverid",)),
            (),
            cli.server_reset,
        ),
        Command(
            "update",
            "Update the template contents. If a path is not provided the editor will\n"
            "be launched to modify the current content.",
            (("zoneid",), ("file", None)),
            (APPEND,),
            cli.update,
        ),
        Command("delete", "Deletes the given Zone", (("range", "zoneid_list"),), (), cli.delete),
        Command(
            "list",
            "Lists Zones in the pool. The default columns and their layout can be configured "
            "in onezone.yaml",
            (),
            LIST_OPTIONS,
            cli.list,
        ),
        Command("show", "Shows information for the given Zone", (("zoneid",),), FORMAT, cli.show),
        Command(
            "set",
            "Set shell session access point for the CLI to the given Zone",
            (("zoneid",),),
            (KEEP,),
            cli.set_zone,
        ),
        Command(
            "serversync",
            "Syncs configuration files and folders from another server\n\n"
            "This command must be executed under root",
            (("server",),),
            (DATABASE,),
            cli.serversync,
        ),
        Command("enable", "Enable zone", (("range", "zoneid_list"),), (), cli.enable),
        Command(
            "disable",
            "Disable zone, disabled zones can execute only readonly commands",
            (("range", "zoneid_list"),),
            (),
            cli.disable,
        ),
    ]
    parser = CmdParser(
        usage="`onezone` <command> [<args>] [<options>]",
        version=version_banner(),
        description=None,
        options=GLOBAL_OPTIONS,
        formats=formats,
        commands=commands,
        before=cli.set_client,
    )
    parser.out, parser.err = cli.out, cli.err
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run ``onezone`` and return the exit status."""
    cli = ZoneCli()
    status = build_parser(cli).run(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
