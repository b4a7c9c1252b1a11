"""Templates to HTML responses: one Jinja2 environment per app (autoescape on for every template,
undefined names an error), and :meth:`Pages.render`, which every page answers through so each
gets the security headers, its cache policy and the values the base layout needs.

A page depends on who reads it, so it is ``private, no-cache`` with ``Vary: Cookie``; pages a
person may be signed in or out of (log in, sign up) are ``no-store``, as credentials are. A request
from htmx (``HX-Request``) gets the fragment a template names instead of the whole page, so the
answer also varies on that header.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from darkroom.web.auth import AuthMethod, auth_of, csrf_token_for
from darkroom.web.caching import PRIVATE_REVALIDATE, CachePolicy
from darkroom.web.deps import get_deps
from darkroom.web.pages.assets import Assets
from darkroom.web.pages.security import SECURITY_HEADERS

__all__ = ["Pages", "is_htmx", "pages_of"]

_VARY = "Cookie, HX-Request"


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it then wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


@dataclass(frozen=True)
class Pages:
    """The templates and static files of the web app, kept on ``app.state.pages``."""

    env: jinja2.Environment
    assets: Assets

    @classmethod
    def load(cls, assets: Assets | None = None) -> Pages:
        """The package's templates over ``assets`` (default: the package's ``static/``)."""
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("darkroom.web.pages", "templates"),
            autoescape=True,  # every template, whatever its name: user text is always escaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        pages = cls(env, assets or Assets())
        env.globals["asset"] = pages.assets.url
        return pages

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        cache: CachePolicy = PRIVATE_REVALIDATE,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """``template`` rendered with ``context`` plus ``viewer`` and ``csrf_token`` (the session's,
        for the forms; empty when signed out)."""
        auth = auth_of(request)
        csrf = ""
        if auth.method is AuthMethod.COOKIE and auth.session is not None:
            csrf = csrf_token_for(get_deps(request).secret, auth.session)
        values = {"viewer": auth.viewer, "csrf_token": csrf, "path": request.url.path, **(context or {})}
        html = self.env.get_template(template).render(values)
        answer_headers = {**SECURITY_HEADERS, "Cache-Control": str(cache), "Vary": _VARY, **(headers or {})}
        return HTMLResponse(html, status_code=status, headers=answer_headers)


def pages_of(request: Request) -> Pages:
    """The app's :class:`Pages`."""
    pages: Pages = request.app.state.pages
    return pages
