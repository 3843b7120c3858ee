"""Where a user-registered webhook may point: public addresses only.

A user chooses their webhook URL, so without this check any user could make our workers
POST into the operator's own network (cloud metadata at 169.254.169.254, an admin port on
127.0.0.1, a database on 10.0.0.5) — server-side request forgery. URLs are checked twice:
when saved (a literal private address or `localhost` is refused at once) and before every
send (the host name is resolved and every address it resolves to must be public, so a
name later pointed at a private address is refused too). The send then goes to the address
that was checked, not to a second look-up of the name: a DNS server answering a public
address for the check and a private one for the connection (DNS rebinding) gets nowhere.
Development and tests that post to 127.0.0.1 set `TIDINGS_WEBHOOK_ALLOW_PRIVATE=1`.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LOCAL_NAMES = ("localhost", "localhost.localdomain")


class PrivateDestinationError(ValueError):
    """The URL points (or resolves) to a loopback, private, link-local or reserved address."""


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
"""The well-known NAT64 prefix: the gateway connects to the IPv4 address in the last 32 bits."""
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
"""Local-use NAT64 (RFC 8215): never a public destination, whatever it embeds."""
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
"""Deprecated IPv4-compatible addresses (`::10.0.0.1`), and `::1`, `::` among them."""
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
"""SIIT IPv4-translated addresses (`::ffff:0:10.0.0.1`)."""
_ISATAP_IDS = (0x0000_5EFE, 0x0200_5EFE)
"""An ISATAP interface id carries an IPv4 address in its last 32 bits."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped, -compatible and -translated,
    NAT64, 6to4, Teredo (server and client) and ISATAP forms each embed one."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED:
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if (int(ip) >> 32) & 0xFFFF_FFFF in _ISATAP_IDS:
        found.append(low32)
    return found


def is_public(address: str) -> bool:
    """A global unicast address, and so is every IPv4 address it embeds."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        if not all(v4.is_global and not v4.is_multicast for v4 in embedded_ipv4(ip)):
            return False
    return ip.is_global and not ip.is_multicast


def _legacy_ipv4(host: str) -> str | None:
    """`127.1`, `0x7f000001`, `2130706433`: forms of an IPv4 address that resolvers accept
    but `ipaddress` does not; the dotted quad they mean, or None."""
    if not host or not all(c in "0123456789abcdefx." for c in host):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def _host(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:  # `http://[`: an unclosed IPv6 bracket
        raise PrivateDestinationError("the URL's host cannot be read") from None
    if not host:
        raise PrivateDestinationError("the URL has no host")
    return host.rstrip(".").lower()


def check_literal_destination(url: str) -> None:
    """Refuse at once what is private without a DNS look-up: an IP literal or localhost."""
    host = _host(url)
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        raise PrivateDestinationError(f"{host} is this machine")
    try:
        public = is_public(_legacy_ipv4(host) or host)
    except ValueError:  # a name, resolved when sending
        return
    if not public:
        raise PrivateDestinationError(f"{host} is not a public address")


def check_resolved_destination(url: str) -> str:
    """Refuse a URL any of whose addresses is not public, else the first of them; `OSError`
    when the name does not resolve (the caller retries: DNS failures are usually passing)."""
    check_literal_destination(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = [
        str(sockaddr[0])
        for *_, sockaddr in socket.getaddrinfo(_host(url), port, type=socket.SOCK_STREAM)
    ]
    for address in addresses:
        if not is_public(address):
            raise PrivateDestinationError(f"{parts.hostname} resolves to {address}")
    if not addresses:
        raise OSError(f"{parts.hostname} has no address")
    return addresses[0]


@dataclass(frozen=True, slots=True)
class PinnedRequest:
    """A request to the checked address that still reaches the receiver by its name: the
    `Host` header it expects and, over https, the name its certificate must carry."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def pin(url: str, address: str) -> PinnedRequest:
    parts = urlsplit(url)
    userinfo, _, host_and_port = parts.netloc.rpartition("@")
    literal = f"[{address}]" if ":" in address else address
    netloc = (f"{userinfo}@" if userinfo else "") + literal
    if parts.port is not None:
        netloc += f":{parts.port}"
    extensions = {"sni_hostname": _host(url)} if parts.scheme == "https" else {}
    return PinnedRequest(
        url=urlunsplit(parts._replace(netloc=netloc)),
        headers={"Host": host_and_port},
        extensions=extensions,
    )
