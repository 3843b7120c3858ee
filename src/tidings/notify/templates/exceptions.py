"""Errors of the template layer; each names the field (title, body, kind…) that caused it.

They are `Unprocessable` problems, so the operator API answers 422 with no extra mapping, and
the dispatcher can catch `TemplateProblem` alone: retrying a template that fails cannot help.
"""

from __future__ import annotations

from tidings.kit.errors import Conflict, NotFound, Unprocessable


class TemplateProblem(Unprocessable):
    """A template that cannot produce a message (base of every rendering failure)."""

    code = "template-invalid"
    title = "Template not usable"


class UnknownKind(TemplateProblem):
    """No event type of that name, so no template and no sample data."""

    code = "unknown-kind"
    title = "Unknown notice kind"


class ChannelHasNoTemplate(TemplateProblem):
    """Webhooks carry the event's JSON, never rendered text."""

    code = "channel-has-no-template"
    title = "Channel has no template"


class TemplateSyntaxProblem(TemplateProblem):
    """The template does not compile."""

    code = "template-syntax"
    title = "Template syntax error"


class UnsafeTemplate(TemplateProblem):
    """The template reaches for internals (`__class__`, `_private`, include…): refused."""

    code = "unsafe-template"
    title = "Unsafe template"


class TemplateRenderFailed(TemplateProblem):
    """The template compiled but failed on this data (undefined name, bad value…)."""

    code = "template-render-failed"
    title = "Template failed to render"


class TemplateTooCostly(TemplateRenderFailed):
    """Rendering went past the budget: too many loop iterations or calls, too much output,
    too long, or too big a value (`budget.py`)."""

    code = "template-too-costly"
    title = "Template exceeds the render budget"


class SmsTooLong(TemplateProblem):
    """The SMS would take more segments than allowed (cost and readability)."""

    code = "sms-too-long"
    title = "SMS too long"


class TemplateVersionNotFound(NotFound):
    """No template version with that id."""

    code = "template-not-found"


class OperatorRequired(Unprocessable):
    """Template changes name the operator making them (`X-Operator`), so the two-person
    rule can be kept and the record says who."""

    code = "operator-required"
    title = "Operator name required"


class ApprovalNeedsSecondOperator(Conflict):
    """The operator who wrote a version may not approve it: a second operator must."""

    code = "template-approval-needs-second-operator"
    title = "A second operator must approve"


class TemplateAlreadyApproved(Conflict):
    """The version (or the shipped default) is approved already."""

    code = "template-already-approved"
    title = "Template already approved"


class TemplateNotApproved(Conflict):
    """A draft goes live only after a second operator has approved it."""

    code = "template-not-approved"
    title = "Template not approved"
