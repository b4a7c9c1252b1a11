"""The two-state buttons (like, follow): a form that stays put and says which state it asks for.

htmx swaps only the inside of such a form, so a press right after a swap is still htmx's (a new
form would be a plain POST until htmx had processed it), and the hidden field names the state the
press asks for rather than "the other one", so a repeated request changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Form, Request
from starlette.responses import Response

from darkroom.web.caching import NO_STORE
from darkroom.web.pages.errors import BadToggle
from darkroom.web.pages.rendering import pages_of

__all__ = ["Asked", "asked_state", "toggle"]

Asked = Annotated[str, Form()]
_STATES = {"true": True, "false": False}


def asked_state(value: str, *, field: str) -> bool:
    """``value`` of the form's ``field`` as the state asked for; BadToggle names anything else."""
    try:
        return _STATES[value]
    except KeyError:
        raise BadToggle(f"{field} must be true or false, not {value[:40]!r}") from None


def toggle(request: Request, value: str, *, field: str, to: Callable[[bool], Response]) -> Response:
    """``to`` the state ``value`` asks for; the error page (422) naming anything else."""
    try:
        wanted = asked_state(value, field=field)
    except BadToggle as exc:
        context = {"title": "Refused", "message": str(exc)}
        return pages_of(request).render(request, "error.html", context, status=422, cache=NO_STORE)
    return to(wanted)
