"""JSON answers encoded by orjson: the same bytes as the standard library's compact UTF-8
JSON, in a fraction of the time (every answer of the API is encoded here)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """`JSONResponse` with orjson: compact, UTF-8, the same output for the same content."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
