"""SSRF guard: refusals happen before any connection attempt; pinning defeats rebinding."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from loadbay.api_errors import status_for
from loadbay.outbound import OutboundClient, OutboundRefused
from loadbay.outbound.ssrf import AddressGuard, IPAddress, embedded_ipv4, refusal_reason
from loadbay.settings import Settings
from tests.outbound import ConnectRecorder, FakeDNS, Handler, LocalHTTPServer, LocalServer


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalServer() as httpd:
        httpd.routes["/ok"] = lambda handler, hit: handler.reply(200, b"done")
        yield httpd


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> ConnectRecorder:
    return ConnectRecorder().install(monkeypatch)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    return FakeDNS().install(monkeypatch)


@pytest.fixture
def make_client(tmp_path: Path, connects: ConnectRecorder, dns: FakeDNS) -> Iterator[Any]:
    clients: list[OutboundClient] = []

    def make(allow: list[str] | None = None) -> OutboundClient:
        settings = Settings(data_dir=tmp_path, outbound_allow=allow or [])
        client = OutboundClient(settings, sleep=lambda seconds: None)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


REFUSED_LITERALS = [
    ("http://[::1]:8080/", "::1", "a loopback address"),
    ("http://10.0.0.1/", "10.0.0.1", "a private address"),
    ("https://172.16.0.1/", "172.16.0.1", "a private address"),
    ("http://192.168.1.1:8443/", "192.168.1.1", "a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "metadata"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254", "metadata"),
    ("http://169.254.10.20/", "169.254.10.20", "a link-local address"),
    ("http://100.64.0.1/", "100.64.0.1", "carrier-grade NAT"),
    ("http://0.0.0.0:9000/", "0.0.0.0", "an unspecified address"),
    ("http://[::]/", "::", "an unspecified address"),
    ("http://[fe80::1]/", "fe80::1", "a link-local address"),
    ("http://[fc00::1]/", "fc00::1", "a unique-local address"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1", "IPv4-mapped form of 127.0.0.1"),
    ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1", "IPv4-mapped form of 10.0.0.1"),
    ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254"),
    ("http://224.0.0.1/", "224.0.0.1", "a multicast address"),
    ("http://[ff02::1]/", "ff02::1", "a multicast address"),
    ("http://240.0.0.1/", "240.0.0.1", "a reserved address"),
]


@pytest.mark.parametrize(("url", "address", "reason"), REFUSED_LITERALS)
def test_non_public_addresses_are_refused_before_connecting(
    make_client: Any, connects: ConnectRecorder, url: str, address: str, reason: str
) -> None:
    with pytest.raises(OutboundRefused) as caught:
        make_client().request("GET", url)
    error = caught.value
    assert f"{address} is " in error.detail
    assert reason in error.detail
    assert "allow it with LOADBAY_OUTBOUND_ALLOW" in error.detail
    assert error.address == address
    assert status_for(error) == 422
    assert connects.addresses == []


def test_loopback_is_refused_even_with_a_server_listening(
    make_client: Any, server: LocalHTTPServer, connects: ConnectRecorder
) -> None:
    with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1 is a loopback address"):
        make_client().request("GET", server.url("/ok"))
    assert connects.addresses == []
    assert server.hits["/ok"] == 0


def test_allow_list_opens_loopback(
    make_client: Any, server: LocalHTTPServer, connects: ConnectRecorder
) -> None:
    response = make_client(["127.0.0.0/8"]).request("GET", server.url("/ok"))
    assert response.status_code == 200
    assert connects.addresses == [("127.0.0.1", server.port)]
    # The allow entry is for IPv4: ::1 stays refused.
    with pytest.raises(OutboundRefused, match="::1 is a loopback address"):
        make_client(["127.0.0.0/8"]).request("GET", f"http://[::1]:{server.port}/ok")


@pytest.mark.parametrize(
    ("host", "answers", "message"),
    [
        ("internal.example", ["10.1.2.3"], "internal.example resolves to 10.1.2.3, a private"),
        ("localhost", ["127.0.0.1", "::1"], "localhost resolves to 127.0.0.1, a loopback"),
        # Any refused address refuses the name, wherever it comes in the answer.
        ("mixed.example", ["8.8.8.8", "192.168.0.10"], "resolves to 192.168.0.10, a private"),
        ("meta.example", ["169.254.169.254"], "the cloud metadata address"),
    ],
)
def test_names_resolving_to_refused_addresses_are_refused(
    make_client: Any,
    connects: ConnectRecorder,
    dns: FakeDNS,
    host: str,
    answers: list[str],
    message: str,
) -> None:
    dns.table[host] = [answers]
    with pytest.raises(OutboundRefused, match=message) as caught:
        make_client().request("GET", f"https://{host}/data.csv")
    assert caught.value.host == host
    assert dns.lookups == [host]
    assert connects.addresses == []


def test_localhost_stays_refused_when_only_ipv4_loopback_is_allowed(
    make_client: Any, connects: ConnectRecorder, dns: FakeDNS
) -> None:
    dns.table["localhost"] = [["127.0.0.1", "::1"]]
    with pytest.raises(OutboundRefused, match="localhost resolves to ::1"):
        make_client(["127.0.0.0/8"]).request("GET", "http://localhost:9/")
    assert connects.addresses == []


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("http://10.0.0.1/admin", "redirect to http://10.0.0.1/admin: 10.0.0.1 is a private"),
        ("http://169.254.169.254/latest/", "the cloud metadata address"),
        ("http://internal.example/", "internal.example resolves to 10.9.9.9"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("gopher://10.0.0.1:6379/_INFO", "scheme 'gopher' is not allowed"),
    ],
)
def test_redirect_from_an_allowed_server_to_a_refused_target(
    make_client: Any,
    server: LocalHTTPServer,
    connects: ConnectRecorder,
    dns: FakeDNS,
    location: str,
    message: str,
) -> None:
    dns.table["internal.example"] = [["10.9.9.9"]]

    def jump(handler: Handler, hit: int) -> None:
        handler.reply(302, b"", {"Location": location})

    server.routes["/jump"] = jump
    with pytest.raises(OutboundRefused, match=message):
        make_client(["127.0.0.0/8"]).request("GET", server.url("/jump"))
    assert server.hits["/jump"] == 1
    # The only connection made is the one to the allowed local server.
    assert connects.addresses == [("127.0.0.1", server.port)]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.example/data.csv", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("https://user:hunter2@api.example/", "credentials in the URL are refused"),
        ("http://exa mple.com/", "not a valid host name"),
        ("http:///no-host", "no host"),
    ],
)
def test_bad_urls_are_refused_without_a_lookup(
    make_client: Any, connects: ConnectRecorder, dns: FakeDNS, url: str, message: str
) -> None:
    with pytest.raises(OutboundRefused, match=message) as caught:
        make_client().request("GET", url)
    assert "hunter2" not in caught.value.detail
    assert "hunter2" not in caught.value.url
    assert dns.lookups == []
    assert connects.addresses == []


def test_connection_is_pinned_to_the_vetted_address(
    make_client: Any, server: LocalHTTPServer, connects: ConnectRecorder, dns: FakeDNS
) -> None:
    # A rebinding resolver: the first answer passes the guard, later ones point inside.
    dns.table["rebind.test"] = [["127.0.0.1"], ["10.0.0.1"]]
    client = make_client(["127.0.0.0/8"])
    url = f"http://rebind.test:{server.port}/ok"
    assert client.request("GET", url).status_code == 200
    assert client.request("GET", url).status_code == 200
    # One lookup (the guard's), sockets to the vetted address only, the name kept in Host.
    assert dns.lookups == ["rebind.test"]
    assert connects.addresses == [("127.0.0.1", server.port)]
    assert [seen.headers["host"] for seen in server.seen] == [f"rebind.test:{server.port}"] * 2
    # A fresh pool looks the name up again, gets the rebound answer, and is refused.
    with pytest.raises(OutboundRefused, match=r"rebind\.test resolves to 10\.0\.0\.1"):
        make_client(["127.0.0.0/8"]).request("GET", url)
    assert connects.addresses == [("127.0.0.1", server.port)]


def test_guard_allow_list_covers_ranges_and_mapped_forms() -> None:
    guard = AddressGuard(["10.0.0.0/8", "127.0.0.1", "fd12:3456::/32"])
    for allowed in ("10.0.0.1", "10.255.0.3", "127.0.0.1", "::ffff:10.1.1.1", "fd12:3456::9"):
        guard.check_address(ipaddress.ip_address(allowed), host=allowed, url=allowed)
    for refused in ("127.0.0.2", "172.16.0.1", "fd12:3457::1", "::1"):
        with pytest.raises(OutboundRefused):
            guard.check_address(ipaddress.ip_address(refused), host=refused, url=refused)
    public = ipaddress.ip_address("93.184.215.14")
    AddressGuard().check_address(public, host="example.com", url="https://example.com/")


def test_allow_setting_is_split_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADBAY_OUTBOUND_ALLOW", "10.0.0.0/8, fd12::/16,192.168.1.7")
    assert Settings().outbound_allow == ["10.0.0.0/8", "fd12::/16", "192.168.1.7/32"]
    monkeypatch.setenv("LOADBAY_OUTBOUND_ALLOW", "")
    assert Settings().outbound_allow == []
    for bad in ("10.0.0.1/8", "intranet", "10.0.0.0/33"):
        monkeypatch.setenv("LOADBAY_OUTBOUND_ALLOW", bad)
        with pytest.raises(ValueError, match="outbound_allow"):
            Settings()


# Ranges the guard refuses although some Python releases call (parts of) them global:
# 192.0.0.0/24 and 2001::/23 hold a few anycast services (PCP, TURN, AMT, ORCHIDv2) no
# import source lives at; 3fff::/20 is IPv6 documentation space (RFC 9637), newer than
# Python 3.11's tables.
STRICTER_THAN_PYTHON = tuple(
    ipaddress.ip_network(cidr) for cidr in ("192.0.0.0/24", "2001::/23", "3fff::/20")
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _effective(address: IPAddress) -> IPAddress:
    """Where packets to ``address`` end up: the IPv4 address inside mapped/NAT64/6to4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def _python_says_special(address: IPAddress) -> bool:
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or not address.is_global
    )


@hypothesis_settings(max_examples=1000, deadline=None)
@given(st.ip_addresses())
@example(ipaddress.ip_address("100.64.0.1"))
@example(ipaddress.ip_address("::ffff:8.8.8.8"))
@example(ipaddress.ip_address("64:ff9b::808:808"))
@example(ipaddress.ip_address("2002:a00:1::1"))
@example(ipaddress.ip_address("2002:808:808::1"))
@example(ipaddress.ip_address("fec0::1"))
@example(ipaddress.ip_address("::10.0.0.1"))
@example(ipaddress.ip_address("255.255.255.255"))
def test_classification_agrees_with_python_ipaddress(address: IPAddress) -> None:
    effective = _effective(address)
    reason = refusal_reason(address)
    special = _python_says_special(effective)
    if special:
        assert reason is not None, f"{address} is special to Python but allowed"
    if reason is not None:
        assert special or any(effective in net for net in STRICTER_THAN_PYTHON), (
            f"{address} refused ({reason}) but Python calls it global"
        )
    # The reason names the right kind of address.
    if reason is not None and effective not in (
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
    ):
        if effective.is_loopback:
            assert "loopback" in reason
        elif effective.is_multicast:
            assert "multicast" in reason
        elif effective.is_link_local:
            assert "link-local" in reason
        elif effective.is_unspecified:
            assert "unspecified" in reason
    if (
        isinstance(address, ipaddress.IPv6Address)
        and embedded_ipv4(address) is not None
        and reason is not None
    ):
        assert str(effective) in reason
