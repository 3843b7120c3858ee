"""Templates of the notification engine: shipped defaults per (kind, channel, locale), operator
versions that override them, and the sandboxed renderer the dispatcher calls."""

from tidings.notify.templates.render import RenderedContent, TemplateRenderer, TemplateSource
from tidings.notify.templates.samples import sample_data
from tidings.notify.templates.sms import sms_segments

__all__ = ["RenderedContent", "TemplateRenderer", "TemplateSource", "sample_data", "sms_segments"]
