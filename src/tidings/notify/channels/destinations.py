"""Where a user-registered webhook may point: public addresses only.

A user chooses their webhook URL, so without this check any user could make our workers
POST into the operator's own network (cloud metadata at 169.254.169.254, an admin port on
127.0.0.1, a database on 10.0.0.5) — server-side request forgery. URLs are checked twice:
when saved (a literal private address or `localhost` is refused at once) and before every
send (the host name is resolved and every address it resolves to must be public, so a
name later pointed at a private address is refused too). Development and tests that post
to 127.0.0.1 set `TIDINGS_WEBHOOK_ALLOW_PRIVATE=1`.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

LOCAL_NAMES = ("localhost", "localhost.localdomain")


class PrivateDestinationError(ValueError):
    """The URL points (or resolves) to a loopback, private, link-local or reserved address."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _host(url: str) -> str:
    host = urlsplit(url).hostname
    if not host:
        raise PrivateDestinationError("the URL has no host")
    return host.rstrip(".").lower()


def check_literal_destination(url: str) -> None:
    """Refuse at once what is private without a DNS look-up: an IP literal or localhost."""
    host = _host(url)
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        raise PrivateDestinationError(f"{host} is this machine")
    try:
        public = is_public(host)
    except ValueError:  # a name, resolved when sending
        return
    if not public:
        raise PrivateDestinationError(f"{host} is not a public address")


def check_resolved_destination(url: str) -> None:
    """Refuse a URL any of whose addresses is not public; `OSError` when the name does not
    resolve (the caller retries: DNS failures are usually passing)."""
    check_literal_destination(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for *_, sockaddr in socket.getaddrinfo(_host(url), port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if not is_public(address):
            raise PrivateDestinationError(f"{parts.hostname} resolves to {address}")
