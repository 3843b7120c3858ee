from __future__ import annotations

from pathlib import Path

from tidings.notify.catalogue import EVENT_TYPES
from tidings.notify.docs import catalogue_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_published_event_catalogue_matches_the_code() -> None:
    assert DOCS.read_text(encoding="utf-8") == catalogue_markdown(), (
        "docs/events.md is stale: run `tidings catalogue > docs/events.md`"
    )


def test_every_event_type_is_documented_with_its_category() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in EVENT_TYPES:
        assert f"| `{name}` |" in text
