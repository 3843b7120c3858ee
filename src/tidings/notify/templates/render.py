"""Turn a notice (kind, data, user's locale and time zone) into the text each channel sends.

Templates run in Jinja2's sandbox with `StrictUndefined`, because operators edit them: no
attribute starting with `_`, no include or import, no runaway string or power arithmetic, and
a misspelt name fails loudly instead of sending a message with a hole in it. The rules every
message must keep — the SMS sender signature, the unsubscribe instruction on marketing SMS,
the authenticity code, the segment limit — are applied here, not left to each template.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NotRequired, TypedDict, Unpack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from tidings.notify.catalogue import EVENT_TYPES
from tidings.notify.templates import budget
from tidings.notify.templates.exceptions import (
    ChannelHasNoTemplate,
    SmsTooLong,
    TemplateRenderFailed,
    TemplateSyntaxProblem,
    TemplateTooCostly,
    UnknownKind,
    UnsafeTemplate,
)
from tidings.notify.templates.filters import FILTERS, is_chinese
from tidings.notify.templates.sms import sms_segments
from tidings.notify.templates.source import (
    DEFAULT_LOCALE,
    TEXT_CHANNELS,
    CustomKindTemplates,
    ShippedTemplates,
    TemplateSource,
    email_layout,
    load_engine_messages,
    load_shipped,
)
from tidings.notify.types import Category, ChannelName

__all__ = [
    "DEFAULT_MAX_SMS_SEGMENTS",
    "Overrides",
    "RenderedContent",
    "TemplateRenderer",
    "TemplateSource",
    "canonical_locale",
    "locale_candidates",
    "sms_segments",
]

DEFAULT_MAX_SMS_SEGMENTS = 3
MAX_TEXT_CHARS = 20_000
"""No channel needs more; a template that produces more is broken or hostile."""

Overrides = Callable[[str, str, str], TemplateSource | None]
"""`(kind, channel, locale)` → the operator's active template, or None for the shipped one."""
CustomKinds = Callable[[str], CustomKindTemplates | None]
"""`kind` → the templates of an active operator-registered kind, or None."""

OPTIONAL_EXTRAS: dict[str, tuple[str, ...]] = {
    "wallet.budget.threshold_reached": ("period",),
    "wallet.budget.exceeded": ("period",),
    "credit.repayment.due": ("principal",),
}
"""Fields a shipped template uses when the event carries them, though its model does not
declare them (yet); they read as None when absent."""

_RESERVED = ("brand", "locale", "timezone", "category")
_ZH_SENTENCE_END = tuple("。！？!?.）)】")
_EN_SENTENCE_END = tuple(".!?)")


@dataclass(frozen=True)
class RenderedContent:
    """One channel's message: `title` is the push/inbox title or email subject (None for SMS),
    `html` only for email, `segments` only for SMS."""

    title: str | None
    body: str
    html: str | None
    segments: int | None


class RenderOptions(TypedDict):
    """What a render needs besides the template: the event's data, the user's time zone, the
    category (marketing adds the unsubscribe line), and the authenticity code — given, or
    derived from the rendered text by `code_for` so the text is rendered once."""

    data: dict[str, Any]
    timezone: str
    category: Category
    authenticity_code: NotRequired[str | None]
    code_for: NotRequired[Callable[[str], str] | None]
    unsubscribe_url: NotRequired[str | None]


@dataclass(frozen=True, slots=True)
class _Wording:
    signature: str
    unsubscribe: str
    code: str
    email_footer: tuple[str, ...]
    email_check: str
    email_unsubscribe: str
    unsubscribe_link: str


def _wording(*, zh: bool, brand: str) -> _Wording:
    if zh:
        return _Wording(
            signature=f"【{brand}】",
            unsubscribe="回T退订",
            code="防伪码{code}",
            email_footer=(f"本邮件由{brand}发送，请勿直接回复。", "我们不会索要您的密码或验证码。"),
            email_check="可在App中输入防伪码，核对本邮件是否由我们发出。",
            email_unsubscribe="不想再收到营销邮件？可在App“设置-消息通知”中随时关闭。",
            unsubscribe_link="退订：{url}",
        )
    return _Wording(
        signature=f"[{brand}] ",
        unsubscribe="Reply T to unsubscribe",
        code="Code {code}",
        email_footer=(
            f"This email was sent by {brand}. Please do not reply to it.",
            "We will never ask for your password or codes.",
        ),
        email_check="Enter the code in the app to check that this email came from us.",
        email_unsubscribe=(
            "Don't want marketing emails? Turn them off any time in the app under "
            "Settings > Notifications."
        ),
        unsubscribe_link="Unsubscribe: {url}",
    )


def _append(text: str, piece: str, *, zh: bool) -> str:
    """Add a sentence after `text`, closing the previous one if it is not closed yet."""
    text = text.rstrip()
    if zh:
        return text + ("" if text.endswith(_ZH_SENTENCE_END) else "。") + piece
    return text + ("" if text.endswith(_EN_SENTENCE_END) else ".") + " " + piece


def canonical_locale(locale: str) -> str:
    """A BCP 47 tag written the usual way: `zh_cn` → `zh-CN`, `zh-hant-tw` → `zh-Hant-TW`."""
    return "-".join(_canonical_tag(locale))


def _canonical_tag(locale: str) -> list[str]:
    parts = [p for p in locale.replace("_", "-").split("-") if p]
    canonical: list[str] = []
    for index, part in enumerate(parts):
        if index == 0:
            canonical.append(part.lower())
        elif len(part) == 4 and part.isalpha():
            canonical.append(part.title())
        else:
            canonical.append(part.upper())
    return canonical


def locale_candidates(locale: str) -> list[str]:
    """Where to look, in order: `zh-Hans-CN` → zh-Hans-CN, zh-CN, zh, then the default zh-CN;
    `en-US` → en-US, en, zh-CN."""
    parts = _canonical_tag(locale)
    candidates: list[str] = []
    if parts:
        language = parts[0]
        region = next((p for p in parts[1:] if len(p) != 4), None)
        candidates.append("-".join(parts))
        if region is not None:
            candidates.append(f"{language}-{region}")
        candidates.append(language)
        if language == "zh":
            candidates.append("zh-CN")
    candidates.append(DEFAULT_LOCALE)
    return list(dict.fromkeys(candidates))


class _Sandbox(SandboxedEnvironment):
    """The sandbox, also holding every render to its budget (`budget.py`): steps, time,
    output and the size of what `+`, `*`, `**`, `%`, calls and filters build."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = budget.safe_range
        for name, function in list(self.filters.items()):
            self.filters[name] = budget.guard_filter(name, function)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget.spend()
        budget.check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget.spend()
        if isinstance(getattr(__obj, "__self__", None), str):  # "x".ljust(10**9)
            budget.check_arguments(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        budget.spend()
        if isinstance(obj, str) and attribute in {"format", "format_map"}:
            budget.check_arguments([obj], {})  # "{:>999999999}".format(1)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        budget.spend()
        return super().getitem(obj, argument)


_FORBIDDEN_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
)


def _refuse_internals(tree: nodes.Template) -> None:
    """Refuse reaching for internals even on a branch the sample data never takes."""
    searched: tuple[type[nodes.Node], ...] = (nodes.Getattr, nodes.Getitem, *_FORBIDDEN_NODES)
    node: nodes.Node
    for node in tree.find_all(searched):
        if isinstance(node, _FORBIDDEN_NODES):
            raise SecurityError(f"{type(node).__name__.lower()} is not allowed in a template")
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise SecurityError(f"access to attribute {node.attr!r} is not allowed")
        if (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and node.arg.value.startswith("_")
        ):
            raise SecurityError(f"access to item {node.arg.value!r} is not allowed")


def _paragraphs(text: str) -> list[list[str]]:
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return [[line.strip() for line in block.split("\n")] for block in blocks if block]


class TemplateRenderer:
    """Renders any notice for sms, push, inbox and email from the shipped defaults, or from an
    operator's active version when `overrides` returns one; the engine's own messages (the
    daily digest) likewise, from their shipped text.

    Stateless apart from caches: one instance serves every user and thread.
    """

    def __init__(
        self,
        *,
        brand: str = "Tidings钱包",
        brand_en: str = "Tidings Wallet",
        overrides: Overrides | None = None,
        max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
        custom_kinds: CustomKinds | None = None,
    ) -> None:
        self.brand = brand
        self._custom_kinds = custom_kinds
        self.brand_en = brand_en
        self.max_sms_segments = max_sms_segments
        self._overrides = overrides
        self._shipped = load_shipped()
        self._kinds = frozenset(kind for kind, _, _ in self._shipped)
        self._engine = load_engine_messages()
        self._engine_kinds = frozenset(kind for kind, _, _ in self._engine)
        self._text_env = _Sandbox(autoescape=False, undefined=StrictUndefined)
        self._text_env.filters.update(FILTERS)
        self._html_env = _Sandbox(
            autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
        )
        self._layout = self._html_env.from_string(email_layout())
        self._compiled = lru_cache(maxsize=2048)(self._compile_unchecked)

    def kinds(self) -> set[str]:
        """Every kind with shipped templates (the whole event catalogue)."""
        return set(self._kinds)

    def shipped(self, kind: str, channel: ChannelName, locale: str) -> TemplateSource | None:
        """The shipped default for exactly this locale, or None."""
        return self._shipped.get((kind, ChannelName(channel), locale))

    def render(
        self, *, kind: str, channel: ChannelName, locale: str, **options: Unpack[RenderOptions]
    ) -> RenderedContent:
        """The message for one channel, in the best locale available for the user.

        `code_for` derives the authenticity code from the rendered text, so a caller that
        needs the code over the text renders once instead of twice."""
        text_channel = self.text_channel(channel)
        source, resolved_locale = self.source_for(kind, text_channel, locale)
        return self.render_source(
            source, kind=kind, channel=text_channel, locale=resolved_locale, **options
        )

    def text_channel(self, channel: ChannelName | str) -> ChannelName:
        """The channel, if it is one that sends rendered text; webhooks are refused clearly."""
        try:
            name = ChannelName(channel)
        except ValueError:
            raise ChannelHasNoTemplate(f"unknown channel {channel!r}", field="channel") from None
        if name not in TEXT_CHANNELS:
            raise ChannelHasNoTemplate(
                f"{name.value} sends the event's JSON, not a rendered template", field="channel"
            )
        return name

    def shipped_items(self) -> Iterator[tuple[str, ChannelName, str, TemplateSource]]:
        """Every shipped default as (kind, channel, locale, source)."""
        for (kind, channel, locale), source in self._shipped.items():
            yield kind, channel, locale, source

    def source_for(
        self,
        kind: str,
        channel: ChannelName,
        locale: str,
        *,
        overrides: Overrides | None = None,
    ) -> tuple[TemplateSource, str]:
        """The template in force and the locale it is written in: for each candidate locale,
        the operator's version first, then the shipped default. `overrides` replaces the
        renderer's own look-up (the API passes one bound to its transaction)."""
        if kind in self._engine_kinds:
            return self._shipped_source(self._engine, kind, channel, locale, None)
        if kind not in self._kinds:
            return self._custom_source(kind, channel, locale)
        return self._shipped_source(
            self._shipped, kind, channel, locale, overrides or self._overrides
        )

    @staticmethod
    def _shipped_source(
        shipped: ShippedTemplates,
        kind: str,
        channel: ChannelName,
        locale: str,
        lookup: Overrides | None,
    ) -> tuple[TemplateSource, str]:
        for candidate in locale_candidates(locale):
            if lookup is not None:
                override = lookup(kind, channel.value, candidate)
                if override is not None:
                    return override, candidate
            found = shipped.get((kind, channel, candidate))
            if found is not None:
                return found, candidate
        raise UnknownKind(f"no {channel.value} template for kind {kind!r}", field="kind")

    def _custom_source(
        self, kind: str, channel: ChannelName, locale: str
    ) -> tuple[TemplateSource, str]:
        """An operator-registered kind's text in the best locale it has (zh-CN at worst)."""
        custom = self._custom_kinds(kind) if self._custom_kinds is not None else None
        if custom is None:
            raise UnknownKind(f"no templates for kind {kind!r}", field="kind")
        for candidate in locale_candidates(locale):
            source = custom.sources.get((channel, candidate))
            if source is not None:
                return source, candidate
        raise UnknownKind(f"no {channel.value} template for kind {kind!r}", field="kind")

    def render_source(
        self,
        source: TemplateSource,
        *,
        kind: str,
        channel: ChannelName,
        locale: str,
        **options: Unpack[RenderOptions],
    ) -> RenderedContent:
        """Render a given template (shipped, stored or a draft being checked) for `locale`.
        Marketing outside SMS ends with `unsubscribe_url` (the `/u/` link) when given."""
        data, timezone, category = options["data"], options["timezone"], options["category"]
        code_for, unsubscribe_url = options.get("code_for"), options.get("unsubscribe_url")
        authenticity_code = options.get("authenticity_code")
        channel = self.text_channel(channel)
        zh = is_chinese(locale)
        brand = self.brand if zh else self.brand_en
        wording = _wording(zh=zh, brand=brand)
        context = self._context(
            kind, data, locale=locale, timezone=timezone, brand=brand, category=category
        )
        body = self._render_field(source.body, "body", context)
        marketing = Category(category) is Category.MARKETING

        def code_line(content: str) -> str | None:
            found = code_for(content) if code_for is not None else authenticity_code
            return wording.code.format(code=found) if found else None

        if channel is ChannelName.SMS:
            code = code_line(body)
            text = body if body.startswith(wording.signature.strip()) else wording.signature + body
            if code:
                text = _append(text, code, zh=zh)
            if marketing and not text.endswith(wording.unsubscribe):
                text = _append(text, wording.unsubscribe, zh=zh)
            segments = sms_segments(text)
            if segments > self.max_sms_segments:
                raise SmsTooLong(
                    f"the SMS takes {segments} segments ({len(text)} characters); "
                    f"at most {self.max_sms_segments} are allowed",
                    field="body",
                    segments=segments,
                    max_segments=self.max_sms_segments,
                )
            return RenderedContent(title=None, body=text, html=None, segments=segments)

        if source.title is None:
            raise TemplateRenderFailed(f"a {channel.value} message needs a title", field="title")
        title = " ".join(self._render_field(source.title, "title", context).split())
        if not title:
            raise TemplateRenderFailed("the title rendered empty", field="title")
        code = code_line(title + body)

        link = wording.unsubscribe_link.format(url=unsubscribe_url) if unsubscribe_url else None
        if channel is not ChannelName.EMAIL:
            text = body
            for line in (code, link if marketing else None):
                if line is not None:  # a body in paragraphs gets them as its last paragraphs
                    text = f"{text}\n\n{line}" if "\n" in body else _append(text, line, zh=zh)
            return RenderedContent(title=title, body=text, html=None, segments=None)

        main = f"{body}\n\n{code}" if code else body
        # Security emails already say what we never ask for; do not say it twice.
        footer = [line for line in wording.email_footer if line.rstrip("。.") not in main]
        if code:
            footer.insert(1, wording.email_check)
        if marketing and link is None:
            footer.append(wording.email_unsubscribe)
        html = self._layout.render(
            lang=locale,
            title=title,
            brand=brand,
            paragraphs=_paragraphs(main),
            footer=footer,
            unsubscribe=(wording.unsubscribe_link.split("{")[0], unsubscribe_url)
            if marketing and link is not None
            else None,
        )
        text = main + "\n\n" + "\n".join([*footer, *([link] if marketing and link else [])])
        return RenderedContent(title=title, body=text, html=html, segments=None)

    def render_params(
        self,
        params: Mapping[str, str],
        *,
        kind: str,
        locale: str,
        data: dict[str, Any],
        timezone: str,
        category: Category,
    ) -> dict[str, str]:
        """Render a provider template's variables (Aliyun TemplateParam) in the same sandbox,
        with the same filters, in the user's locale and time zone; each on one line."""
        zh = is_chinese(locale)
        context = self._context(
            kind,
            data,
            locale=canonical_locale(locale),
            timezone=timezone,
            brand=self.brand if zh else self.brand_en,
            category=category,
        )
        return {
            name: " ".join(self._render_field(source, f"params.{name}", context).split())
            for name, source in params.items()
        }

    def check_compiles(self, text: str, field: str) -> None:
        """Raise the problem an operator should see when `text` does not compile or is unsafe."""
        self._compile(text, field)

    def _context(
        self,
        kind: str,
        data: dict[str, Any],
        *,
        locale: str,
        timezone: str,
        brand: str,
        category: Category,
    ) -> dict[str, Any]:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TemplateRenderFailed(
                f"{timezone!r} is not an IANA time zone", field="timezone"
            ) from None
        # Optional fields read as None when absent; a missing required one stays undefined,
        # so the error names it.
        spec = EVENT_TYPES.get(kind)
        declared: Iterable[str] = (
            [name for name, info in spec.data.model_fields.items() if not info.is_required()]
            if spec is not None
            else ()
        )
        if spec is None and self._custom_kinds is not None and kind not in self._engine_kinds:
            custom = self._custom_kinds(kind)
            declared = custom.optional if custom is not None else ()
        optional = dict.fromkeys((*declared, *OPTIONAL_EXTRAS.get(kind, ())))
        context = {**optional, **data}
        for name in _RESERVED:
            context.pop(name, None)
        context.update(brand=brand, locale=locale, timezone=zone, category=Category(category).value)
        return context

    def _compile_unchecked(self, text: str) -> Template:
        tree = self._text_env.parse(text)
        _refuse_internals(tree)
        return self._text_env.from_string(budget.instrument(tree))

    def _compile(self, text: str, field: str) -> Template:
        try:
            return self._compiled(text)
        except TemplateSyntaxError as exc:
            raise TemplateSyntaxProblem(
                f"{field}, line {exc.lineno}: {exc.message}", field=field
            ) from None
        except SecurityError as exc:
            raise UnsafeTemplate(f"{field}: {exc}", field=field) from None
        except RecursionError:
            raise TemplateSyntaxProblem(f"{field}: nested too deeply", field=field) from None
        except Exception as exc:  # whatever else the compiler refuses is the template's fault
            raise TemplateSyntaxProblem(
                f"{field}: {type(exc).__name__}: {exc}", field=field
            ) from None

    def _render_field(self, text: str, field: str, context: dict[str, Any]) -> str:
        template = self._compile(text, field)
        try:
            with budget.render_budget():  # compiled first: only the render counts
                rendered = template.render(context)
        except budget.OverBudget as exc:
            raise TemplateTooCostly(f"{field}: {exc} (the render budget)", field=field) from None
        except SecurityError as exc:
            raise UnsafeTemplate(f"{field}: {exc}", field=field) from None
        except UndefinedError as exc:
            raise TemplateRenderFailed(f"{field}: {exc.message}", field=field) from None
        except Exception as exc:  # the template is code an operator wrote: any failure is theirs
            raise TemplateRenderFailed(
                f"{field}: {type(exc).__name__}: {exc}", field=field
            ) from None
        rendered = rendered.strip()
        if len(rendered) > MAX_TEXT_CHARS:
            raise TemplateRenderFailed(
                f"{field} rendered {len(rendered)} characters; at most {MAX_TEXT_CHARS}",
                field=field,
            )
        if field == "body" and not rendered:
            raise TemplateRenderFailed("the body rendered empty", field=field)
        return rendered
