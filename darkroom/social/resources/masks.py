"""Read masks of the social resources: each message's mask validated, and the questions the
loaders ask of one (is a field selected, what is selected inside it) before projecting."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api.fieldmask import Mask, MaskLike

__all__ = [
    "VIEWER_FIELDS",
    "MaskArg",
    "account_mask",
    "comment_mask",
    "has",
    "like_mask",
    "post_mask",
    "project",
    "sub",
]

MaskArg = Mask | MaskLike
# an Account's fields about the viewer: reading them costs the viewer's edges
VIEWER_FIELDS = ("followed_by_me", "requested_by_me", "follows_me", "blocked_by_me")


def _parse(mask: MaskArg, descriptor: Descriptor) -> Mask:
    parsed = mask if isinstance(mask, Mask) else Mask.parse(mask, descriptor)
    if parsed.descriptor is not descriptor:
        raise TypeError(f"mask is for {parsed.descriptor.full_name}, not {descriptor.full_name}")
    return parsed


def post_mask(mask: MaskArg) -> Mask:
    """``mask`` validated for a Post (:class:`~darkroom.api.errors.InvalidFieldMask` names a bad path)."""
    return _parse(mask, pb.Post.DESCRIPTOR)


def account_mask(mask: MaskArg) -> Mask:
    return _parse(mask, pb.Account.DESCRIPTOR)


def comment_mask(mask: MaskArg) -> Mask:
    return _parse(mask, pb.Comment.DESCRIPTOR)


def like_mask(mask: MaskArg) -> Mask:
    return _parse(mask, pb.Like.DESCRIPTOR)


def has(mask: Mask, field: str) -> bool:
    """Whether ``mask`` selects ``field`` or a path under it."""
    return mask.selects_all or any(p[0] == field for p in mask.paths)


def sub(mask: Mask, field: str, descriptor: Descriptor) -> Mask | None:
    """What ``mask`` selects inside message field ``field`` (None: nothing)."""
    if mask.selects_all or (field,) in mask.paths:
        return Mask(descriptor, (), True, mask.name)
    inner = tuple(p[1:] for p in mask.paths if p[0] == field)
    return Mask(descriptor, inner, False, mask.name) if inner else None


def project(message: Message, mask: Mask) -> None:
    """Keep only what ``mask`` selects of ``message``, in place."""
    if not mask.selects_all:
        message.CopyFrom(mask.project(message))
