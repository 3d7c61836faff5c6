"""Operator action bodies: one typed struct per action, decoded and checked whole (types, ranges,
unknown fields) before the engine sees the action, so a bad body changes nothing and answers 400
naming the field. Their JSON Schemas in openapi.yaml are these structs' (a test compares them)."""

from __future__ import annotations

import enum
import re
import typing
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from correlator.domain import MAX_NAME_LENGTH, Category, FieldError, Priority, ServiceArea, from_msgspec

MAX_NAME = MAX_NAME_LENGTH
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
Text = Annotated[str, Meta(pattern=r"\S")]  # not blank


class ActionBody(Struct, forbid_unknown_fields=True, kw_only=True):
    actor: Name | None = None  # else the X-Actor header, else "api"


class ActorOnly(ActionBody):
    pass


class Assign(ActionBody):
    team: Name
    tier: Annotated[int, Meta(ge=1)] | None = None


class Comment(ActionBody):
    text: Text


class SetPriority(ActionBody):
    priority: Priority
    reason: str = ""


class Classify(ActionBody):
    category: Category | None = None
    service_area: ServiceArea | None = None


class Escalate(ActionBody):
    team: Name | None = None  # else one tier up
    reason: str = ""


class Closing(ActionBody):
    reason: str = ""


class Reopen(ActionBody):
    reason: str = ""  # why the resolution did not hold


class Merge(ActionBody):
    other_id: Annotated[str, Meta(min_length=1)]


class Split(ActionBody):
    fingerprints: Annotated[list[Annotated[str, Meta(min_length=1)]], Meta(min_length=1)]


# action in the URL -> (engine method, body)
ACTIONS: dict[str, tuple[str, type[ActionBody]]] = {
    "acknowledge": ("acknowledge", ActorOnly),
    "investigate": ("investigate", ActorOnly),
    "assign": ("assign", Assign),
    "comment": ("comment", Comment),
    "priority": ("set_priority", SetPriority),
    "classify": ("classify", Classify),
    "escalate": ("escalate", Escalate),
    "resolve": ("resolve", Closing),
    "reopen": ("reopen", Reopen),
    "close": ("close", Closing),
    "merge": ("merge", Merge),
    "split": ("split", Split),
}

_OBJECT_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>[^`]+)`")
_decoders = {body: msgspec.json.Decoder(body) for body in {body for _, body in ACTIONS.values()}}


def _enum_fields(body_type: type[ActionBody]) -> dict[str, type[enum.Enum]]:
    """Field name -> its enum (Optional or not): an invalid value's error lists the choices."""
    fields = {}
    for name, hint in typing.get_type_hints(body_type).items():
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
                fields[name] = candidate
    return fields


_choices = {body: _enum_fields(body) for body in _decoders}


def decode_action(body_type: type[ActionBody], data: bytes) -> ActionBody | FieldError:
    """The body as its struct (an empty body is `{}`), or the error naming the offending field."""
    try:
        return _decoders[body_type].decode(data or b"{}")
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        found = from_msgspec(error)
        named = _OBJECT_FIELD.match(found.reason)
        if named and found.path == "$":  # msgspec names a missing or unknown field in the message
            return FieldError(named.group("name"), found.reason)
        if named:
            return FieldError(f"{found.path}.{named.group('name')}", found.reason)
        choices = _choices[body_type].get(found.path)
        if choices is not None:
            return FieldError(found.path, f"{found.reason}; expected one of {', '.join(c.value for c in choices)}")
        return found
