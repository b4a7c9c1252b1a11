"""The JSON path of a resource: json_format.MessageToDict against darkroom.api.protojson's
descriptor walk, both serialised by orjson, on a feed-like Post (author, 4 photos, tags).

    .venv/bin/python -m bench.protojson

Prints microseconds per post for each, full and with a small mask; docs/social.md keeps the figures.
"""

from __future__ import annotations

import timeit

import orjson
from google.protobuf import json_format

from darkroom._proto.darkroom.social.v1 import social_pb2 as pb
from darkroom.api import protojson
from darkroom.api.fieldmask import Mask


def sample_post() -> pb.Post:
    post = pb.Post(id="01JZ0000000000000000000000", caption="sunset at the pier #sun #sea", state="ready")
    post.author.CopyFrom(pb.Account(id="01JZ0000000000000000000001", handle="alice", display_name="Alice", bio="hi"))
    post.author.created_at.FromSeconds(1_767_225_600)
    for i in range(4):
        media = post.media.add(id=f"01JZ00000000000000000000M{i}", kind="photo", state="ready", width=1080, height=1350)
        for width in (1080, 640, 320):
            media.renditions.add(
                url=f"/v1/media/k/{i}-{width}.jpg", content_type="image/jpeg", width=width, role="image"
            )
    post.tags.extend(["sea", "sun"])
    post.like_count, post.comment_count, post.liked_by_me = 42, 3, True
    post.created_at.FromMilliseconds(1_767_225_600_123)
    post.updated_at.FromMilliseconds(1_767_225_600_123)
    return post


def _json_format(post: pb.Post, mask: Mask) -> bytes:
    message = mask.project(post)
    printed = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return orjson.dumps(printed)


def main() -> None:
    post = sample_post()
    masks = {"full": Mask.parse(None, pb.Post.DESCRIPTOR), "id,caption,like_count": None}
    masks["id,caption,like_count"] = Mask.parse("id,caption,like_count", pb.Post.DESCRIPTOR)
    for name, mask in masks.items():
        assert mask is not None
        for label, fn in (("json_format", _json_format), ("protojson", protojson.to_json)):
            n, total = timeit.Timer(lambda fn=fn, mask=mask: fn(post, mask)).autorange()
            print(f"{name:>24}  {label:<12} {total / n * 1e6:8.1f} µs/post")


if __name__ == "__main__":
    main()
