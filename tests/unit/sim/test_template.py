"""OpenNebula template syntax: parsing and rendering (golden values from docs/opennebula-cli.md §2.2)."""

import pytest

from onesim.template import Template, TemplateSyntaxError, Vector, parse, parse_str_or_xml

# The multi-line template the real 7.0 `onezone server-add` sends (docs/opennebula-cli.md §2.2).
CLI_SERVER_TEMPLATE = (
    "            SERVER = [\n"
    '              NAME="server-1",\n'
    '              ENDPOINT="http://10.0.0.2:2633/RPC2"\n'
    "            ]\n"
)


def test_single_values_quoted_and_bare_with_comments():
    template = parse(
        "# a comment\n"
        "PORT = 2633   # trailing comment\n"
        'LISTEN_ADDRESS = "0.0.0.0"\n'
        "SCRIPTS_REMOTE_DIR=/var/tmp/one\n"
    )
    assert template.get("PORT") == "2633"
    assert template.get("LISTEN_ADDRESS") == "0.0.0.0"
    assert template.get("SCRIPTS_REMOTE_DIR") == "/var/tmp/one"


def test_vector_across_lines_and_case_insensitive_names():
    template = parse('db = [ backend = "mysql",\n   Server = "localhost",\n PORT = 0 ]\n')
    vector = template.vector("DB")
    assert vector.values == {"BACKEND": "mysql", "SERVER": "localhost", "PORT": "0"}
    assert vector.get("server") == "localhost"


def test_cli_multiline_and_one_line_server_templates_parse_alike():
    multi = parse(CLI_SERVER_TEMPLATE).vector("SERVER")
    single = parse('SERVER = [ NAME="server-1", ENDPOINT="http://10.0.0.2:2633/RPC2" ]').vector(
        "SERVER"
    )
    assert (
        multi.values
        == single.values
        == {
            "NAME": "server-1",
            "ENDPOINT": "http://10.0.0.2:2633/RPC2",
        }
    )


def test_repeated_attributes_are_kept_in_order():
    template = parse('VM_MAD = [ NAME = "kvm" ]\nVM_MAD = [ NAME = "lxc" ]\n')
    assert [v["NAME"] for v in template.get_all("VM_MAD")] == ["kvm", "lxc"]


def test_quoted_strings_span_lines_and_unescape():
    template = parse('A = "line one\nline two"\nB = "say \\"hi\\" \\\\ done"\n')
    assert template.get("A") == "line one\nline two"
    assert template.get("B") == 'say "hi" \\ done'


def test_empty_vector():
    assert parse("EMPTY = [ ]\n").vector("EMPTY").values == {}


@pytest.mark.parametrize(
    "text",
    [
        "PORT =\n",
        "= 5\n",
        'A = [ B = "x" C = "y" ]\n',
        'A = "unterminated\n',
        "A = 1 2\n",
        "A = [ B = 1,\n",
    ],
)
def test_syntax_errors_name_the_line(text):
    with pytest.raises(TemplateSyntaxError, match="line"):
        parse(text)


def test_xml_form_is_accepted():
    template = parse_str_or_xml(
        "<TEMPLATE><SERVER><NAME>s1</NAME><ENDPOINT>http://h:2633/RPC2</ENDPOINT></SERVER>"
        "</TEMPLATE>"
    )
    assert template.vector("SERVER").values == {"NAME": "s1", "ENDPOINT": "http://h:2633/RPC2"}


def test_to_xml_uses_cdata_and_alphabetical_vector_keys():
    template = Template()
    template.add("ENDPOINT", "http://localhost:2633/RPC2")
    template.add("SERVER", Vector({"NAME": "s", "ID": "0", "ENDPOINT": "e"}))
    assert template.to_xml() == (
        "<TEMPLATE><ENDPOINT><![CDATA[http://localhost:2633/RPC2]]></ENDPOINT>"
        "<SERVER><ENDPOINT><![CDATA[e]]></ENDPOINT><ID><![CDATA[0]]></ID>"
        "<NAME><![CDATA[s]]></NAME></SERVER></TEMPLATE>"
    )


def test_text_round_trip():
    original = parse('A = "x y"\nB = [ C = "1", D = "two" ]\n')
    assert parse(original.to_text()).attributes == original.attributes
