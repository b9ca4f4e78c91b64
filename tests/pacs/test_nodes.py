"""Declaring PACS nodes: PACS_NODES is read strictly, naming the variable on error."""

from __future__ import annotations

import pytest
from django.conf import LazySettings
from django.core.exceptions import ImproperlyConfigured

from ordering.pacs.nodes import PacsNode, configured_nodes, parse_pacs_nodes
from tests.test_settings import start_django


def parse(raw: str | None) -> list[PacsNode]:
    return parse_pacs_nodes("PACS_NODES", raw, calling_aet="IMAGINGCDS", timeout=2.0)


def test_it_reads_several_nodes_with_their_own_timeouts_and_transports() -> None:
    nodes = parse(
        '[{"name": "chu", "host": "pacs.chu.local", "port": 104, "called_aet": "CHUPACS",'
        ' "acse_timeout": 1, "dimse_timeout": 1.5, "tls": true, "tls_ca_file": "/etc/ca.pem",'
        ' "max_answers": 500},'
        ' {"name": "web", "transport": "dicomweb", "url": "https://dw.local/dicom-web"}]'
    )
    chu, web = nodes
    assert (chu.host, chu.port, chu.called_aet, chu.calling_aet) == (
        "pacs.chu.local",
        104,
        "CHUPACS",
        "IMAGINGCDS",
    )
    assert (chu.acse_timeout, chu.dimse_timeout, chu.network_timeout) == (1, 1.5, 2.0)
    assert chu.tls and chu.max_answers == 500
    assert web.transport == "dicomweb" and web.url == "https://dw.local/dicom-web"


def test_without_pacs_nodes_the_single_node_variables_make_the_default_node(
    settings: LazySettings,
) -> None:
    settings.PACS_NODES = []
    settings.PACS_HOST = "10.0.0.5"
    settings.PACS_PORT = 4242
    (node,) = configured_nodes()
    assert (node.name, node.host, node.port) == ("default", "10.0.0.5", 4242)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "PACS_NODES is not valid JSON"),
        ('{"name": "x"}', "PACS_NODES must be a non-empty JSON list"),
        ("[]", "PACS_NODES must be a non-empty JSON list"),
        ('[{"name": "a", "host": "h", "port": "104", "called_aet": "A"}]', r"PACS_NODES\[0\].port"),
        ('[{"name": "a", "host": "h", "port": true, "called_aet": "A"}]', r"PACS_NODES\[0\].port"),
        ('[{"name": "a", "host": "h", "port": 104}]', "needs called_aet"),
        ('[{"name": "a", "host": "h", "port": 104, "called_aet": "A", "colour": 1}]', "colour"),
        ('[{"name": "a", "transport": "dicomweb"}]', "needs an http"),
        ('[{"name": "a", "transport": "hl7", "url": "http://x"}]', "transport"),
        (
            '[{"name": "a", "host": "h", "port": 104, "called_aet": "A"},'
            ' {"name": "a", "host": "h", "port": 105, "called_aet": "B"}]',
            "names a node twice",
        ),
        ('[{"name": "a", "host": "h", "port": 104, "called_aet": "AN_AE_TITLE_TOO_LONG"}]', "16"),
    ],
)
def test_a_malformed_pacs_nodes_is_refused_with_the_variable_named(raw: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        parse(raw)


def test_a_malformed_pacs_nodes_stops_start_up() -> None:
    result = start_django(PACS_NODES='[{"name": "x"}]')
    assert result.returncode != 0
    assert "PACS_NODES[0]" in result.stderr
