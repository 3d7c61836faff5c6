"""An operator action of the log applied to the engine, with the result the API answers with.

The same for the daemon's engine service and for `replay`: the action happens at its receive time,
as an alert does (the engine's timers due by then fire first), through the engine's operator
methods (engine/operations.py). An action the engine refuses is a result (404, 409, 400 naming
the field), not a failure: it changed nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

import msgspec

from correlator.domain.actions import ACTIONS, decode_action
from correlator.domain import FieldError, InvalidAction, TransitionError, UnknownIncident
from correlator.engine.core import Engine
from correlator.engine.views import ACTION_RESULT_LIMIT, incident_detail, incident_page
from correlator.store.action_log import ActionOutcome, ActionResult, LoggedAction


def refused(status: int, message: str, *details: FieldError) -> ActionResult:
    return ActionResult(ActionOutcome.REFUSED, status,
                        {"error": message, "details": [detail.as_json() for detail in details]})


def apply_action(engine: Engine, action: LoggedAction | FieldError, at: datetime,
                 is_closed: Callable[[str], bool]) -> tuple[set[str], ActionResult]:
    """Apply `action` received at `at`; returns the incidents changed and the result. `is_closed`
    tells an incident closed (final, out of the engine) from one that never was."""
    changed = engine.advance(at)
    if isinstance(action, FieldError):
        return changed, refused(400, "invalid action", action)
    known = ACTIONS.get(action.action)
    if known is None:
        return changed, refused(400, "invalid action", FieldError("action", f"unknown action {action.action!r}"))
    method, body_type = known
    body = decode_action(body_type, msgspec.json.encode(action.body))
    if isinstance(body, FieldError):
        return changed, refused(400, "invalid body", body)
    fields = {name: getattr(body, name) for name in body.__struct_fields__ if name != "actor"}
    incident_id = action.incident_id
    try:
        changed |= getattr(engine, method)(incident_id, action.actor, engine.event_time(at), **fields)
    except UnknownIncident as error:
        if is_closed(incident_id):
            return changed, refused(409, f"{incident_id} is closed: a closed incident is final and changes "
                                         "no more (a recurrence opens a new incident)")
        return changed, refused(404, str(error))
    except TransitionError as error:
        return changed, refused(409, str(error))
    except InvalidAction as error:
        return changed, refused(400, "invalid action", FieldError(error.field, error.reason))
    return changed, ActionResult(ActionOutcome.APPLIED, 200, incident_detail(incident_page(
        engine.incidents[incident_id], ACTION_RESULT_LIMIT, ACTION_RESULT_LIMIT)))
