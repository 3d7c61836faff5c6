"""Query parameters shared by the list endpoints; each problem is added to `errors` with its name."""

from __future__ import annotations

from aiohttp import web

from correlator.domain import FieldError
from correlator.rules.matchers import Matcher, MatcherError, parse_matchers


def limit_param(request: web.Request, default: int | None, maximum: int, errors: list[FieldError],
                name: str = "limit", minimum: int = 1) -> int | None:
    """The integer query parameter `name` (`default` when absent: None, no limit)."""
    text = request.query.get(name)
    if text is None:
        return default
    # isdecimal, not isdigit: int() refuses "²"; and a short text, as int() refuses 4,300 digits
    limit = int(text) if text.isdecimal() and len(text) <= 9 else -1
    if not minimum <= limit <= maximum:
        errors.append(FieldError(name, f"expected an integer from {minimum} to {maximum}"))
    return limit


def matchers_param(request: web.Request, errors: list[FieldError]) -> list[Matcher]:
    """Every `filter=` parameter (Alertmanager matchers), ANDed."""
    matchers: list[Matcher] = []
    for text in request.query.getall("filter", []):
        try:
            matchers.extend(parse_matchers(text))
        except MatcherError as error:
            errors.append(FieldError("filter", str(error)))
    return matchers
