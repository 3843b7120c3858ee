"""Inputs are read as JSON spells them, never as Python would coerce them.

FastAPI validates a parsed JSON body in pydantic's *python* mode, where lax coercion turns
`0` into `false`, `"5"` into `5` and `0.5` into a moment in 1970, while strict python mode
refuses what JSON legitimately carries (a time is a string, an enum is its value). So every
route's inputs are re-wired here, once, after every router is included:

- a body is validated in pydantic's *JSON* mode with `strict=True`: a bool is `true` or
  `false`, an integer is a JSON integer, a string is a string; times, dates and enums
  come as their strings, exactly as the OpenAPI schema documents them;
- a query, path or header parameter arrives as text: an integer must be written in
  digits (`?limit=5`, not `5.0`), a number as a JSON number, a boolean as `true` or
  `false` (not `1`, `yes` or `2`); the rest is validated as before;
- a body in a media type that is not JSON is 415 (`errors.py` renders it); form fields
  (HTML pages) are left as FastAPI validates them.

Routes added later are covered by the same call; no route or schema opts in.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from fastapi import FastAPI, params
from fastapi._compat import ModelField  # the field FastAPI validates each input with
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
"""The error type a non-JSON body gets; `errors.py` answers it with 415."""

M = TypeVar("M", bound=BaseModel)

_NOT_JSON = "NaN and Infinity are not JSON"

ScalarKind = Literal["integer", "number", "boolean"]

_SPELLINGS: dict[ScalarKind, tuple[re.Pattern[str], str]] = {
    "integer": (re.compile(r"-?(0|[1-9][0-9]*)"), "must be an integer written in digits"),
    "number": (
        re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"),
        "must be a number written as JSON writes it",
    ),
    "boolean": (re.compile(r"true|false"), "must be true or false"),
}


def _located(errors: list[Any], loc: tuple[int | str, ...]) -> list[dict[str, Any]]:
    return [{**error, "loc": (*loc, *error.get("loc", ()))} for error in errors]


class JsonBodyField(ModelField):
    """A body field validated as the JSON it came as, strictly."""

    def validate(
        self,
        value: Any,
        values: dict[str, Any] | None = None,
        *,
        loc: tuple[int | str, ...] = (),
    ) -> tuple[Any, list[dict[str, Any]]]:
        if isinstance(value, bytes):  # FastAPI reads only JSON media types as JSON
            return None, [
                {
                    "type": UNSUPPORTED_MEDIA_TYPE,
                    "loc": loc,
                    "msg": "the body must be JSON (Content-Type: application/json)",
                    "input": None,
                }
            ]
        try:
            document = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except ValueError:  # NaN or Infinity, which Python's parser lets through
            return None, [{"type": "json_invalid", "loc": loc, "msg": _NOT_JSON, "input": None}]
        try:
            return self._type_adapter.validate_json(document, strict=True), []
        except ValidationError as exc:
            return None, _located(exc.errors(include_url=False), loc)


class JsonSpelledParamField(ModelField):
    """A query, path or header parameter whose integer, number or boolean must be spelled
    as JSON spells it."""

    def validate(
        self,
        value: Any,
        values: dict[str, Any] | None = None,
        *,
        loc: tuple[int | str, ...] = (),
    ) -> tuple[Any, list[dict[str, Any]]]:
        kind = scalar_kind(self.field_info.annotation)
        if kind is not None:
            pattern, message = _SPELLINGS[kind]
            texts = value if isinstance(value, list) else [value]
            for index, text in enumerate(texts):
                if isinstance(text, str) and not pattern.fullmatch(text):
                    where = (*loc, index) if isinstance(value, list) else loc
                    error = {"type": f"{kind}_spelling", "loc": where, "msg": message}
                    return None, [{**error, "input": text}]
        return super().validate(value, values or {}, loc=loc)


def scalar_kind(annotation: Any) -> ScalarKind | None:
    """Whether a parameter's type is an integer, a number or a boolean (optional or in a
    list); None for text and everything else."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return scalar_kind(get_args(annotation)[0])
    if origin in (Union, types.UnionType, list):
        kinds = {scalar_kind(arg) for arg in get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    return None


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def read_inputs_as_json(app: FastAPI) -> None:
    """Re-wire the inputs of every API route of `app` (call it after the last router).

    Each field FastAPI built is given our subclass in place (its class swapped, nothing
    else changed), so every reference FastAPI holds to it validates the same way; a field
    already re-wired (the same router in another app) is left as it is."""
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        # An included route validates with the dependant of its inclusion, not its own.
        for dependant in _dependants(context.dependant):
            for field in dependant.body_params:
                # A form (an HTML page's POST) is text by nature, and validated as FastAPI does.
                if type(field) is ModelField and not isinstance(field.field_info, params.Form):
                    field.__class__ = JsonBodyField
            for fields in (
                dependant.query_params,
                dependant.path_params,
                dependant.header_params,
                dependant.cookie_params,
            ):
                for field in fields:
                    if type(field) is ModelField:
                        field.__class__ = JsonSpelledParamField


def validate_json_value(model: type[M], value: Any) -> M:
    """Validate parsed JSON the way bodies are: in JSON mode, strictly (for routes that
    read their body themselves). Raises pydantic's `ValidationError`."""
    try:
        document = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ValidationError.from_exception_data(
            model.__name__,
            [{"type": "json_invalid", "loc": (), "input": None, "ctx": {"error": _NOT_JSON}}],
        ) from None
    return model.model_validate_json(document, strict=True)
