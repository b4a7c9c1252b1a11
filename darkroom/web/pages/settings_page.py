"""``/settings``: the signed-in person's profile (display name, bio, private account) and avatar.

The profile form is ``account_edits.update_account`` with the mask ``display_name,bio,private``,
as ``PATCH /v1/accounts/me``; a refusal shows the form again with the domain's message and what
was typed. The avatar form (``POST /settings/avatar``, multipart) streams its file into
``avatars.receive_avatar`` as ``POST /v1/uploads`` does (the CSRF field before the file, the
avatar's size limit stopping the reading), so it is exempt from the edge's 64 KiB body limit;
"Remove" clears it. Signed out, the page redirects to the login.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from darkroom._proto.darkroom.social.v1.social_pb2 import Account
from darkroom.api.fieldmask import Mask
from darkroom.social import account_edits, accounts, avatars, resources
from darkroom.social.errors import SocialError, TooLarge
from darkroom.social.viewer import Viewer, require_write
from darkroom.storage.db import read_only
from darkroom.web.api.uploads import FORM_OVERHEAD_BYTES, starts_of
from darkroom.web.auth import CSRF_FIELD, CurrentViewer, SignedIn, current_viewer, streams_its_form, verify_csrf
from darkroom.web.body_stream import BlockingBody
from darkroom.web.caching import NO_STORE
from darkroom.web.deps import Deps, WebDeps, upload_threads
from darkroom.web.multipart import StreamedForm
from darkroom.web.pages.errors import BadToggle
from darkroom.web.pages.post_views import Photo, photo_of
from darkroom.web.pages.rendering import pages_of
from darkroom.web.pages.session_pages import see_other
from darkroom.web.pages.toggles import asked_state
from darkroom.web.problems import HTTP_STATUSES

__all__ = ["AVATAR_PATH", "ProfileForm", "router"]

router = APIRouter(include_in_schema=False)
AVATAR_PATH = "/settings/avatar"
_FIELDS = Mask.parse("id,handle,display_name,bio,private,avatar", Account.DESCRIPTOR, name="fields")
_SAVED = {
    "profile": "Your profile is saved.",
    "avatar": "Your new photo is saved.",
    "removed": "Your photo is removed.",
}
Text = Annotated[str, Form()]


@dataclass(frozen=True, slots=True)
class ProfileForm:
    """What the profile form shows: the stored values, or what was typed when it was refused."""

    display_name: str
    bio: str
    private: bool


@dataclass(frozen=True, slots=True)
class AvatarView:
    """The avatar as the form shows it: its photo once rendered, or that it is being processed."""

    photo: Photo | None
    processing: bool


def _current(deps: WebDeps, viewer: Viewer) -> tuple[ProfileForm, AvatarView]:
    with read_only(deps.engine).begin() as conn:
        account = resources.load_accounts(conn, [viewer.account_id], viewer, _FIELDS, urls=deps.media_urls)[
            viewer.account_id
        ]
    photo = photo_of(account.avatar, "") if account.HasField("avatar") else None
    form = ProfileForm(account.display_name, account.bio, account.private)
    return form, AvatarView(photo, account.HasField("avatar") and photo is None)


def _page(
    request: Request,
    deps: WebDeps,
    viewer: Viewer,
    *,
    form: ProfileForm | None = None,
    error: str = "",
    avatar_error: str = "",
    status: int = 200,
) -> Response:
    stored, avatar = _current(deps, viewer)
    context: dict[str, Any] = {
        "form": form or stored,
        "avatar": avatar,
        "error": error,
        "avatar_error": avatar_error,
        "saved": _SAVED.get(request.query_params.get("saved", ""), ""),
        "max_avatar_mib": avatars.avatar_limits(deps.upload_limits).max_photo_bytes >> 20,
        "max_display_name": accounts.DISPLAY_NAME_MAX_CHARS,
        "max_bio": accounts.BIO_MAX_CHARS,
    }
    return pages_of(request).render(request, "settings.html", context, status=status, cache=NO_STORE)


@router.get("/settings")
def settings_page(request: Request, deps: Deps, viewer: CurrentViewer) -> Response:
    """The profile form; signed out, a ``303`` to ``/login``."""
    if viewer is None:
        return see_other("/login")
    return _page(request, deps, viewer)


@router.post("/settings")
def save_profile(
    request: Request, deps: Deps, viewer: SignedIn, *, display_name: Text = "", bio: Text = "", private: Text = "false"
) -> Response:
    """Save the display name, bio and privacy (``private=true|false``)."""
    typed = ProfileForm(display_name, bio, private == "true")
    try:
        changes = account_edits.AccountChanges(
            display_name=display_name, bio=bio, private=asked_state(private, field="private")
        )
        with deps.engine.begin() as conn:
            account_edits.update_account(conn, viewer, changes, ["display_name", "bio", "private"])
    except BadToggle as exc:
        return _page(request, deps, viewer, form=typed, error=str(exc), status=422)
    except SocialError as exc:
        return _page(request, deps, viewer, form=typed, error=str(exc), status=HTTP_STATUSES.status(exc))
    return see_other("/settings?saved=profile")


@router.post(AVATAR_PATH)
@streams_its_form
async def upload_avatar(request: Request, deps: Deps) -> Response:
    """A new avatar from the form's ``avatar`` file (its ``csrf_token`` field comes first)."""
    who = require_write(current_viewer(request))
    limits = avatars.avatar_limits(deps.upload_limits)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_photo_bytes + FORM_OVERHEAD_BYTES:
        over = TooLarge(
            f"the form is {declared} bytes; an avatar is at most {limits.max_photo_bytes} bytes",
            max_bytes=limits.max_photo_bytes,
            field="avatar",
        )
        page = await anyio.to_thread.run_sync(_refused_avatar, request, deps, who, over)
        page.headers["Connection"] = "close"  # the body is not read
        return page
    starts = starts_of(deps)

    def take() -> None:
        form = StreamedForm(
            BlockingBody(request.stream()), request.headers.get("content-type", ""), file_field=avatars.AVATAR_FIELD
        )
        part = form.open_file()
        verify_csrf(request, part.fields.get(CSRF_FIELD))
        with deps.engine.begin() as conn:
            avatars.receive_avatar(
                conn, deps.blobs, who, form.reader(),
                filename=part.filename, limits=deps.upload_limits, spool_dir=deps.spool_dir, start=starts,
            )  # fmt: skip
        starts.flush()
        form.finish()

    try:
        await anyio.to_thread.run_sync(take, limiter=upload_threads(request))
    except SocialError as exc:
        page = await anyio.to_thread.run_sync(_refused_avatar, request, deps, who, exc)
        page.headers["Connection"] = "close"  # the rest of the file was not read
        return page
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening; nothing was stored
    return see_other("/settings?saved=avatar")


def _refused_avatar(request: Request, deps: WebDeps, who: Viewer, exc: SocialError) -> Response:
    return _page(request, deps, who, avatar_error=str(exc), status=HTTP_STATUSES.status(exc))


@router.post("/settings/remove-avatar")  # not under AVATAR_PATH: that one has no body limit
def remove_avatar(request: Request, deps: Deps, viewer: SignedIn) -> Response:
    """Clear the avatar (the profile shows the initial again)."""
    with deps.engine.begin() as conn:
        avatars.clear_avatar(conn, viewer)
    return see_other("/settings?saved=removed")
