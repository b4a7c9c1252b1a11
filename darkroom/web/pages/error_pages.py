"""The HTML face of the app's problems: to a page request (``web/responses.py``: a path outside
``/v1/`` asked for as ``text/html``) an error the app-wide handlers answer (an unknown path, a
wrong method, a missing CSRF token, the edge's rate limit, a body too large, a 500) is
``error.html`` in the base layout, with the problem's status, headers (``Retry-After``, ``Allow``,
the rate limit's) and its title and detail as text. :func:`problem_page` is the hook ``mount``
sets on ``app.state``; nothing else renders errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

from darkroom.api.problems import Problem
from darkroom.web.caching import NO_STORE
from darkroom.web.pages.rendering import pages_of
from darkroom.web.responses import problem_response

__all__ = ["problem_page"]

_log = logging.getLogger(__name__)
_VARY = "Accept, Cookie, HX-Request"


def problem_page(request: Request, problem: Problem, headers: Mapping[str, str]) -> Response:
    """``problem`` as the site's error page (never stored: it says what went wrong now)."""
    context = {"title": problem.title, "message": problem.detail}
    answer_headers = {**problem.headers, **headers, "Vary": _VARY}
    try:
        return pages_of(request).render(
            request, "error.html", context, status=problem.status, cache=NO_STORE, headers=answer_headers
        )
    except Exception:  # the page itself failed (a 500 while rendering): the problem still gets out
        _log.exception("the error page for a %s could not be rendered", problem.status)
        return problem_response(problem, headers)
