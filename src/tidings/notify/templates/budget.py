"""A render budget for operator templates: bounded work, bounded output, bounded time.

The sandbox stops a template from reaching internals, not from working forever: two nested
loops over `range(10000)` ran for seconds. Each render gets a budget (a context variable,
so one renderer serves every thread) that these count against:
- every loop iteration (each `for` iterates through `budgeted`, put there by `instrument`),
  every call and every attribute look-up: `MAX_STEPS` in all, and `MAX_SECONDS` of CPU;
- every character output, streamed or captured in a block (`{% set %}…{% endset %}`,
  `{% filter %}`, macros): `MAX_OUTPUT_CHARS`;
- every string or list built by `~`, `+`, `*` or a filter, and every integer argument (a
  width, a count): at most `MAX_OUTPUT_CHARS` long, before it is built where it can be told.

Past any of them the render stops with `OverBudget`: at save the template is refused (422
naming the field), at send the delivery fails permanently with that reason.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError

MAX_STEPS = 50_000
"""Loop iterations, calls and attribute look-ups in one message."""
MAX_OUTPUT_CHARS = 64 * 1024
"""Characters produced in one message, captured blocks included."""
MAX_SECONDS = 0.2
"""CPU time of one message's render, once it has taken `TIMED_AFTER_STEPS` steps: a short
template is never timed (its first money or date format may load locale data), a runaway
one is stopped whatever it does each step; CPU time, so a busy machine does not fail it."""
TIMED_AFTER_STEPS = 1_000
MAX_RANGE = 10_000
"""The longest `range()` a template may make."""
MAX_INT_BITS = 4096
"""Integers a template multiplies or raises stay this small."""

_WIDE_FORMAT = re.compile(r"%[-#0 +]*\d{6,}|\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")
"""A printf or str.format width of a million or more."""


class OverBudget(SecurityError):
    """The render used more than its budget (steps, output, time or size)."""


@dataclass
class Budget:
    """One render's allowance; `spend` raises `OverBudget` once any part is used up."""

    deadline: float
    steps: int = 0
    output: int = 0

    def spend(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise OverBudget(f"more than {MAX_STEPS} loop iterations, calls and look-ups")
        if self.steps > TIMED_AFTER_STEPS and time.thread_time() > self.deadline:
            raise OverBudget(f"rendering took longer than {int(MAX_SECONDS * 1000)} ms")

    def emit(self, chars: int) -> None:
        self.output += chars
        if self.output > MAX_OUTPUT_CHARS:
            raise OverBudget(f"the template produced more than {MAX_OUTPUT_CHARS} characters")


_CURRENT: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def render_budget(seconds: float = MAX_SECONDS) -> Iterator[Budget]:
    """Everything rendered inside counts against one fresh budget."""
    budget = Budget(deadline=time.thread_time() + seconds)
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def spend(steps: int = 1) -> None:
    budget = _CURRENT.get()
    if budget is not None:
        budget.spend(steps)


def check_size(value: Any) -> Any:
    """Refuse a string or list too long for any message; pass anything else."""
    if isinstance(value, str | list | tuple) and len(value) > MAX_OUTPUT_CHARS:
        raise OverBudget(f"a value of {len(value)} items; at most {MAX_OUTPUT_CHARS}")
    return value


def check_arguments(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    """Widths and counts (`center(10**9)`, `batch(10**9)`) and format strings with such a
    width (`"%999999999d"`), refused before they are used."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_OUTPUT_CHARS:
                raise OverBudget(f"the number {value} is too large here")
        elif isinstance(value, str) and _WIDE_FORMAT.search(value):
            raise OverBudget("a format width of a million or more")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `+`, `*`, `**` whose result would be too long a sequence or too big a number."""
    numbers = (
        isinstance(left, int)
        and isinstance(right, int)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    )
    if operator == "**" and numbers and abs(left) > 1:
        if left.bit_length() * max(right, 0) > MAX_INT_BITS:
            raise OverBudget("power too large")
    elif operator == "*" and numbers:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise OverBudget("product too large")
    elif operator == "*":
        for sequence, times in ((left, right), (right, left)):
            sized = isinstance(sequence, str | list | tuple) and isinstance(times, int)
            if sized and len(sequence) * times > MAX_OUTPUT_CHARS:
                raise OverBudget("repetition result too large")
    elif operator == "+" and isinstance(left, str | list | tuple) and hasattr(right, "__len__"):
        if len(left) + len(right) > MAX_OUTPUT_CHARS:
            raise OverBudget("concatenation result too large")
    elif operator == "%" and isinstance(left, str):
        check_arguments([left], {})


def budgeted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every `for` loop of a template iterates through this: one step per item."""
    budget = _CURRENT.get()
    for item in iterable:
        if budget is not None:
            budget.spend()
        yield item


def output(value: Any) -> Any:
    """Every value a template outputs passes through this (unchanged), counted."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.emit(len(str(value)))
    return value


def literal(chars: int) -> str:
    """Counts a run of the template's own text as it is output; outputs nothing itself."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.emit(chars)
    return ""


def concat(*parts: Any) -> str:
    """`a ~ b ~ c`, refused before it is built when it would be too long."""
    texts = [str(part) for part in parts]
    if sum(len(text) for text in texts) > MAX_OUTPUT_CHARS:
        raise OverBudget("concatenation result too large")
    spend()
    return "".join(texts)


SIZING_FILTERS = frozenset({"batch", "center", "format", "indent", "join", "slice", "truncate"})
"""Filters whose arguments (or, for `format`, the value) say how much they build."""


def guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that counts as a step, refuses sizing arguments too large, and results too
    long."""
    first = 2 if hasattr(function, "jinja_pass_arg") else 1  # after context/env, the value

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        spend()
        if name == "format":  # the format string's widths; its arguments may be any amount
            check_arguments(args[first - 1 : first], {})
        elif name in SIZING_FILTERS:
            check_arguments(args[first:], kwargs)
        if name == "join" and len(args) > first:
            items, separator = args[first - 1], args[first]
            sized = hasattr(items, "__len__") and isinstance(separator, str)
            if sized and len(items) * len(separator) > MAX_OUTPUT_CHARS:
                raise OverBudget("join result too large")
        return check_size(function(*args, **kwargs))

    return guarded


def safe_range(*args: int) -> range:
    """`range`, at most `MAX_RANGE` long."""
    made = range(*args)
    if len(made) > MAX_RANGE:
        raise OverBudget(f"range longer than {MAX_RANGE}")
    return made


_HERE = __name__


def _imported(name: str, *args: nodes.Node, lineno: int) -> nodes.Call:
    return nodes.Call(
        nodes.ImportedName(f"{_HERE}.{name}"), list(args), [], None, None, lineno=lineno
    )


def instrument(tree: nodes.Template) -> nodes.Template:
    """Rewrite a parsed template so loops, output and `~` count against the budget."""
    for loop in tree.find_all(nodes.For):
        loop.iter = _imported("budgeted", loop.iter, lineno=loop.lineno)
    for out in tree.find_all(nodes.Output):
        children: list[nodes.Expr] = []
        static = 0
        for child in out.nodes:
            if isinstance(child, nodes.TemplateData):
                static += len(child.data)
                children.append(child)
            else:
                children.append(_imported("output", child, lineno=child.lineno))
        if static:
            children.insert(0, _imported("literal", nodes.Const(static), lineno=out.lineno))
        out.nodes = children
    for joined in list(tree.find_all(nodes.Concat)):
        # Replace in place: a Concat node becomes a call with the same operands.
        call = _imported("concat", *joined.nodes, lineno=joined.lineno)
        _replace(tree, joined, call)
    return tree


def _replace(tree: nodes.Node, old: nodes.Node, new: nodes.Node) -> None:
    for parent in [tree, *tree.find_all(nodes.Node)]:
        for name in parent.fields:
            value = getattr(parent, name, None)
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if item is old:
                        value[index] = new
                        return
