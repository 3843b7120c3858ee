"""The CloudEvents HTTP protocol binding 1.0: which content mode a request uses, and the
event attributes it carries.

- structured mode (§3.2): the body is the whole event, `application/cloudevents+json` (plain
  `application/json` without `ce-` headers is read the same way, as earlier clients send it);
- binary mode (§3.1): attributes in `ce-*` headers (percent-encoded, §3.1.3.2), the body is
  `data`, and `Content-Type` is its `datacontenttype`;
- batch mode (§3.3): `application/cloudevents-batch+json`, a JSON array of structured events.

Our events carry JSON data, so any other media type is refused with 415.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from tidings.kit.errors import MalformedJson, UnsupportedMediaType

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
HEADER_PREFIX = "ce-"


@dataclass(frozen=True, slots=True)
class HttpEvents:
    """The events of one request, as attribute maps still to be validated."""

    events: list[Any]
    batch: bool


def split_media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """`application/json; charset=utf-8` → (`application/json`, {`charset`: `utf-8`})."""
    kind, _, rest = content_type.partition(";")
    params = {}
    for part in rest.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), params


def is_json_media_type(media_type: str) -> bool:
    """`application/json` or any `+json` type (RFC 6839), the data we can read."""
    return media_type == JSON or media_type.endswith("+json")


def _json_body(body: bytes, params: Mapping[str, str]) -> Any:
    if params.get("charset", "utf-8").lower() not in {"utf-8", "utf8"}:
        raise UnsupportedMediaType("JSON bodies must be UTF-8", field="content-type")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedJson("the request body is not valid JSON", field="body") from exc


def events_from_http(headers: Mapping[str, str], body: bytes) -> HttpEvents:
    """Read the request in whichever content mode it uses (header names in lower case)."""
    content_type = headers.get("content-type", "")
    media_type, params = split_media_type(content_type)
    if f"{HEADER_PREFIX}specversion" in headers:
        if not is_json_media_type(media_type):
            raise UnsupportedMediaType(
                f"binary mode: the data must be JSON, not {media_type or 'untyped'}",
                field="content-type",
            )
        attributes: dict[str, Any] = {}
        for name, value in headers.items():
            if name.startswith(HEADER_PREFIX) and len(name) > len(HEADER_PREFIX):
                try:
                    attributes[name[len(HEADER_PREFIX) :]] = unquote(value, errors="strict")
                except UnicodeDecodeError as exc:
                    raise MalformedJson(
                        f"{name}: percent-encoding that is not UTF-8", field=name
                    ) from exc
        attributes["datacontenttype"] = content_type
        attributes["data"] = _json_body(body, params)
        return HttpEvents(events=[attributes], batch=False)
    if media_type == BATCH:
        document = _json_body(body, params)
        if not isinstance(document, list):
            raise MalformedJson("a batch is a JSON array of events", field="body")
        return HttpEvents(events=document, batch=True)
    if media_type in {STRUCTURED, JSON}:
        return HttpEvents(events=[_json_body(body, params)], batch=False)
    raise UnsupportedMediaType(
        f"send {STRUCTURED} (structured), {BATCH} (batch), or JSON data with ce- headers "
        f"(binary); not {media_type or 'an untyped body'}",
        field="content-type",
    )
