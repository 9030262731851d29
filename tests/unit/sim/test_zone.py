"""Zone XML and server-id allocation (golden values from docs/opennebula-raft.md §2.2 and §5.6)."""

from onesim.zone import Server, Zone, zone_pool_xml

REFERENCE_ZONE_XML = (
    "<ZONE><ID>0</ID><NAME>OpenNebula</NAME><STATE>0</STATE><TEMPLATE><ENDPOINT>"
    "<![CDATA[http://localhost:2633/RPC2]]></ENDPOINT></TEMPLATE><SERVER_POOL><SERVER>"
    "<ENDPOINT><![CDATA[http://192.168.150.1:2633/RPC2]]></ENDPOINT><ID><![CDATA[0]]></ID>"
    "<NAME><![CDATA[server-0]]></NAME></SERVER></SERVER_POOL></ZONE>"
)


def test_zone_xml_matches_reference_example():
    zone = Zone.default("http://localhost:2633/RPC2")
    zone.servers.append(Server(0, "server-0", "http://192.168.150.1:2633/RPC2"))
    assert zone.to_xml() == REFERENCE_ZONE_XML


def test_empty_server_pool_is_an_open_close_pair():
    assert "<SERVER_POOL></SERVER_POOL>" in Zone.default("http://localhost:2633/RPC2").to_xml()


def test_zone_xml_round_trip():
    zone = Zone.from_xml(REFERENCE_ZONE_XML)
    assert zone.to_xml() == REFERENCE_ZONE_XML
    assert zone.server_map() == {0: "http://192.168.150.1:2633/RPC2"}


def test_server_ids_are_max_plus_one():
    zone = Zone.default("e")
    assert zone.next_server_id() == 0
    zone.servers = [Server(0, "a", "e0"), Server(1, "b", "e1"), Server(2, "c", "e2")]
    assert zone.next_server_id() == 3


def test_deleting_the_top_id_reuses_it_but_a_lower_one_is_not_reused():
    zone = Zone.default("e")
    zone.servers = [Server(0, "a", "e0"), Server(2, "c", "e2")]
    assert zone.next_server_id() == 3  # id 1 was deleted: never reused
    zone.servers = [Server(0, "a", "e0"), Server(1, "b", "e1")]
    assert zone.next_server_id() == 2  # id 2 was the top one: reused


def test_zone_pool_wraps_zones():
    xml = zone_pool_xml([Zone.default("e")])
    assert xml.startswith("<ZONE_POOL><ZONE><ID>0</ID>") and xml.endswith("</ZONE></ZONE_POOL>")
