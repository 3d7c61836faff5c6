"""Titles and bodies as user-editable Jinja2 templates, rendered in Jinja2's sandbox: a template can
read the change it renders and nothing else (no attribute access to internals, no code execution).
Compiled when the configuration is loaded, so a broken template is a configuration error."""

from __future__ import annotations

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from correlator.forward.contract import DestinationError, IncidentChange

_environment = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                             trim_blocks=True, lstrip_blocks=True)

# What a responder needs first: priority with impact x urgency, category, services, team, the alerts
# with why each joined, and the way back to the incident.
DEFAULT_TITLE = "[{{ incident.priority }}] {{ incident.title }}"
DEFAULT_BODY = """\
{{ incident.priority }} (impact {{ incident.impact }} x urgency {{ incident.urgency }}) - {{ incident.state }}
Category: {{ incident.category or "unclassified" }} / {{ incident.service_area or "-" }}
Services: {{ incident.services | join(", ") or "-" }}
Team: {{ incident.team or "-" }} (tier {{ incident.tier }})
Opened: {{ incident.opened_at.isoformat() }}
{% if incident.url %}Incident: {{ incident.url }}
{% endif %}

Alerts ({{ incident.alert_count }}):
{% for alert in incident.alerts[:50] %}
- {{ alert.alertname }} [{{ alert.status }}] {{ alert.labels | dictsort | map("join", "=") | join(", ") }} ({{ alert.reason }}){% if alert.summary %}: {{ alert.summary }}{% endif %}

{% endfor %}
{% if incident.alert_count > 50 %}... and {{ incident.alert_count - 50 }} more
{% endif %}"""


class Template:
    def __init__(self, source: str, destination: str, option: str):
        try:
            self._template = _environment.from_string(source)
        except jinja2.TemplateSyntaxError as error:
            raise DestinationError(destination, option, f"template line {error.lineno}: {error.message}") from None
        self._destination, self._option = destination, option

    def render(self, change: IncidentChange) -> str:
        """The text for `change`; a template that fails on it (an undefined name, a sandbox refusal)
        raises DestinationError, which the worker dead-letters with this message."""
        try:
            return self._template.render(incident=change.incident, change=change, kind=change.kind.value,
                                         detail=change.detail, actor=change.actor)
        except jinja2.TemplateError as error:
            raise DestinationError(self._destination, self._option, f"template failed: {error}") from None
