"""Errors of the template layer; each names the field (title, body, kind…) that caused it.

They are `Unprocessable` problems, so the operator API answers 422 with no extra mapping, and
the dispatcher can catch `TemplateProblem` alone: retrying a template that fails cannot help.
"""

from __future__ import annotations

from tidings.kit.errors import Conflict, NotFound, Unprocessable


class TemplateProblem(Unprocessable, code="template-invalid", title="Template not usable"):
    """A template that cannot produce a message (base of every rendering failure)."""


class UnknownKind(TemplateProblem, code="unknown-kind", title="Unknown notice kind"):
    """No event type of that name, so no template and no sample data."""


class ChannelHasNoTemplate(
    TemplateProblem, code="channel-has-no-template", title="Channel has no template"
):
    """Webhooks carry the event's JSON, never rendered text."""


class TemplateSyntaxProblem(TemplateProblem, code="template-syntax", title="Template syntax error"):
    """The template does not compile."""


class UnsafeTemplate(TemplateProblem, code="unsafe-template", title="Unsafe template"):
    """The template reaches for internals (`__class__`, `_private`, include…): refused."""


class TemplateRenderFailed(
    TemplateProblem, code="template-render-failed", title="Template failed to render"
):
    """The template compiled but failed on this data (undefined name, bad value…)."""


class TemplateTooCostly(
    TemplateRenderFailed, code="template-too-costly", title="Template exceeds the render budget"
):
    """Rendering went past the budget: too many loop iterations or calls, too much output,
    too long, or too big a value (`budget.py`)."""


class SmsTooLong(TemplateProblem, code="sms-too-long", title="SMS too long"):
    """The SMS would take more segments than allowed (cost and readability)."""


class TemplateVersionNotFound(NotFound, code="template-not-found"):
    """No template version with that id."""


class OperatorRequired(Unprocessable, code="operator-required", title="Operator name required"):
    """Template changes name the operator making them (`X-Operator`), so the two-person
    rule can be kept and the record says who."""


class ApprovalNeedsSecondOperator(
    Conflict, code="template-approval-needs-second-operator", title="A second operator must approve"
):
    """The operator who wrote a version may not approve it: a second operator must."""


class TemplateAlreadyApproved(
    Conflict, code="template-already-approved", title="Template already approved"
):
    """The version (or the shipped default) is approved already."""


class TemplateNotApproved(Conflict, code="template-not-approved", title="Template not approved"):
    """A draft goes live only after a second operator has approved it."""
