"""A webhook may not reach a private IPv4 address through an IPv6 form that embeds one: refused
when the URL is saved and before every send."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from tests.helpers import create_user
from tidings.notify.channels.destinations import (
    PrivateDestinationError,
    check_literal_destination,
    is_public,
)
from tidings.notify.channels.webhook import WebhookAdapter, generate_secret
from tidings.notify.types import ChannelName, PermanentChannelError

from .conftest import MessageFactory

EMBEDDING_PRIVATE = {
    "nat64": "64:ff9b::a00:5",  # 10.0.0.5
    "nat64-metadata": "64:ff9b::a9fe:a9fe",  # 169.254.169.254
    "nat64-local-use": "64:ff9b:1::a00:5",  # RFC 8215, never public
    "6to4": "2002:a00:5::1",  # 10.0.0.5
    "6to4-loopback": "2002:7f00:1::",  # 127.0.0.1
    "teredo": "2001:0:4136:e378:8000:63bf:f5ff:fffa",  # client 10.0.0.5
    "ipv4-mapped": "::ffff:10.0.0.5",
    "ipv4-mapped-hex": "::ffff:a00:5",
    "ipv4-compatible": "::10.0.0.5",
    "ipv4-compatible-loopback": "::127.0.0.1",
    "ipv4-translated": "::ffff:0:a00:5",  # SIIT
    "isatap": "2606:4700::5efe:a00:5",
    "isatap-u": "2606:4700::200:5efe:c0a8:101",  # 192.168.1.1
}
EMBEDDING_PUBLIC = {
    "nat64": "64:ff9b::5db8:d822",  # 93.184.216.34
    "6to4": "2002:5db8:d822::1",
    "ipv4-mapped": "::ffff:93.184.216.34",
    "isatap": "2606:4700::5efe:5db8:d822",
    "plain": "2606:4700:4700::1111",
}
LEGACY_IPV4 = ["127.1", "2130706433", "0x7f000001", "0177.0.0.1", "10.1"]


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE.values(), ids=EMBEDDING_PRIVATE.keys())
def test_ipv6_forms_embedding_a_private_ipv4_are_not_public(address: str) -> None:
    assert not is_public(address)
    with pytest.raises(PrivateDestinationError):
        check_literal_destination(f"https://[{address}]/hook")


@pytest.mark.parametrize("address", EMBEDDING_PUBLIC.values(), ids=EMBEDDING_PUBLIC.keys())
def test_ipv6_forms_embedding_a_public_ipv4_stay_allowed(address: str) -> None:
    assert is_public(address)
    check_literal_destination(f"https://[{address}]/hook")


@pytest.mark.parametrize("host", LEGACY_IPV4)
def test_shorthand_ipv4_literals_are_read_as_the_address_they_mean(host: str) -> None:
    with pytest.raises(PrivateDestinationError):
        check_literal_destination(f"http://{host}/hook")


def test_webhook_url_embedding_private_ipv4_is_refused(client: TestClient) -> None:
    """When saved, on both databases: every form is 422 naming `webhook_url`."""
    user = create_user(client)
    url = f"/v1/users/{user['id']}/preferences"
    for address in EMBEDDING_PRIVATE.values():
        response = client.put(url, json={"webhook_url": f"https://[{address}]/hook"})
        assert response.status_code == 422, (address, response.text)
        assert response.json()["errors"][0]["field"] == "webhook_url"
    for host in LEGACY_IPV4:
        response = client.put(url, json={"webhook_url": f"http://{host}/hook"})
        assert response.status_code == 422, (host, response.text)
    assert client.get(url).json()["webhook_url"] is None


@pytest.mark.parametrize("address", ["64:ff9b::a00:5", "2002:a00:5::1", "::ffff:0:a00:5"])
def test_a_name_resolving_to_an_embedding_form_is_refused_before_sending(
    address: str, make_message: MessageFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    message = make_message(ChannelName.WEBHOOK, to="https://hooks.example.com/h", data={"a": 1})
    with pytest.raises(PermanentChannelError, match="refused destination"):
        WebhookAdapter(secret=generate_secret()).send(message)
