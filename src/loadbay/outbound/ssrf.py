"""SSRF guard: which addresses outbound requests may reach, checked where sockets connect.

The check runs inside the connection pool's network backend: the host is resolved once,
every address is vetted, and the socket connects to one of those vetted addresses. No second
lookup happens between check and connect, so a DNS answer that changes (rebinding) cannot
move a request to an address that was never checked. Host header and TLS SNI still carry the
original name, because httpcore takes both from the request's origin, not from the socket.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

import httpcore
import httpx

from loadbay.outbound.errors import OutboundRefused, redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
ALLOW_HINT = "allow it with LOADBAY_OUTBOUND_ALLOW"
# DNS names as httpx holds them (IDNA already turned into xn-- labels); "_" appears in
# real-world names although RFC 952 forbids it.
_HOSTNAME = re.compile(rb"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")

# Cloud instance metadata endpoints (AWS, GCP, Azure, OpenStack: 169.254.169.254; AWS
# Nitro IPv6: fd00:ec2::254). Their ranges are refused anyway; naming them makes the
# refusal say what was really at stake.
_METADATA = frozenset(
    {ipaddress.IPv4Address("169.254.169.254"), ipaddress.IPv6Address("fd00:ec2::254")}
)

# From the IANA IPv4 and IPv6 special-purpose address registries, kept here rather than
# taken from ipaddress's is_private/is_global, whose lists changed between Python releases
# (3.11.10, 3.12.4 and 3.13 moved several ranges): the guard must not change with the
# interpreter. tests/outbound/test_ssrf.py compares this table with the running Python.
_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "a 'this network' address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared, 100.64.0.0/10) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # includes the broadcast 255.255.255.255
    )
)

_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(cidr), reason)
    for cidr, reason in (
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001::/23", "an IETF protocol assignment address (Teredo, ORCHID, …)"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("fc00::/7", "a unique-local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)

# Everything outside 2000::/3 that the rules above do not name is reserved by IANA.
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# Prefixes that carry an IPv4 address, which is where packets to them end up: the host
# itself (mapped), a NAT64 gateway, a 6to4 relay. Judged by the IPv4 address inside.
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64, 6to4) and the kind."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "an IPv4-mapped form"
    if address in _V6_NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "a NAT64 form"
    if address.sixtofour is not None:
        return address.sixtofour, "a 6to4 form"
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is no place for an outbound request (None: a public address)."""
    if address in _METADATA:
        return "the cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _V4_RULES:
            if address in network:
                return reason
        return None
    if address.is_loopback:
        return "a loopback address"
    embedded = embedded_ipv4(address)
    if embedded is not None:
        inner, kind = embedded
        inner_reason = refusal_reason(inner)
        return None if inner_reason is None else f"{kind} of {inner}, {inner_reason}"
    for network6, reason in _V6_RULES:
        if address in network6:
            return reason
    if address not in _V6_GLOBAL_UNICAST:
        return "a reserved address (outside the global unicast range 2000::/3)"
    return None


def parse_allow_list(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from ``outbound_allow`` entries; a bare address is a /32 or /128.

    strict: ``10.0.0.1/8`` is an error rather than silently meaning 10.0.0.0/8, since the
    operator probably meant something narrower.
    """
    return tuple(ipaddress.ip_network(cidr.strip(), strict=True) for cidr in cidrs)


class AddressGuard:
    """Refuses non-public addresses unless an allow-listed network contains them."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self._allow = parse_allow_list(allow)

    def allowed(self, address: IPAddress) -> bool:
        if any(address in network for network in self._allow):
            return True
        # ::ffff:127.0.0.1 is the same socket peer as 127.0.0.1: an IPv4 allow entry covers it.
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        return mapped is not None and any(mapped in network for network in self._allow)

    def check_address(self, address: IPAddress, *, host: str, url: str) -> None:
        if self.allowed(address):
            return
        reason = refusal_reason(address)
        if reason is None:
            return
        literal = _is_ip_literal(host)
        subject = f"{address} is" if literal else f"{host} resolves to {address},"
        raise OutboundRefused(
            f"{subject} {reason}; {ALLOW_HINT}",
            url=url,
            host=host,
            address=str(address),
            reason=reason,
        )

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to, each vetted; refused if any one is refused.

        Any, not all: a name answering with both a public and a private address would
        otherwise reach the private one whenever the public one is down or comes second.
        """
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            # A ConnectError: name lookups fail transiently, so the request may be retried.
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses: list[IPAddress] = []
        for family, _type, _proto, _name, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(str(sockaddr[0]))
            # The URL is not known down here; the client names it when it re-raises.
            self.check_address(address, host=host, url=f"{host}:{port}")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no IPv4 or IPv6 address")
        return addresses


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_url(url: httpx.URL, *, auth_given: bool = False) -> None:
    """Refuse what no address check can catch: other schemes, userinfo, no host."""
    shown = redact_url(url)
    if url.scheme not in ALLOWED_SCHEMES:
        raise OutboundRefused(
            f"{shown}: scheme {url.scheme or '(none)'!r} is not allowed, only http and https",
            url=shown,
            host=url.host or None,
            address=None,
            reason="scheme not allowed",
        )
    if url.userinfo:
        # Credentials in a URL end up in logs, Referer headers and error messages.
        hint = "" if auth_given else "; pass them as auth instead"
        raise OutboundRefused(
            f"{shown}: credentials in the URL are refused{hint}",
            url=shown,
            host=url.host,
            address=None,
            reason="credentials in URL",
        )
    if not url.host:
        raise OutboundRefused(
            f"{shown}: the URL has no host",
            url=shown,
            host=None,
            address=None,
            reason="no host",
        )
    if not (_HOSTNAME.fullmatch(url.raw_host) or _is_ip_literal(url.host)):
        # httpx percent-encodes what it cannot parse ("exa mple.com" -> "exa%20mple.com");
        # such a name would only reach the resolver, which is no place to interpret it.
        raise OutboundRefused(
            f"{shown}: {url.host!r} is not a valid host name",
            url=shown,
            host=url.host,
            address=None,
            reason="invalid host",
        )


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore network backend that connects only to addresses the guard vetted."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        # Raises OutboundRefused before any socket exists when one address is refused.
        addresses = self._guard.resolve(host, port)
        last_error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                # An address literal: the inner backend's create_connection does no lookup.
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None  # resolve() returns at least one address
        raise last_error

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool built on :class:`GuardedBackend`.

    httpx 0.28 has no public way to hand a network backend to HTTPTransport, so the pool
    it built is replaced. The isinstance check makes an httpx upgrade that renames the
    attribute fail loudly at start instead of silently skipping the guard.
    """

    def __init__(self, guard: AddressGuard, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("httpx.HTTPTransport has no _pool: cannot install the SSRF guard")
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )
