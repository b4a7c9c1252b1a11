"""darkroom.api.protojson prints exactly what json_format prints (proto3 JSON, field names as written,
defaults of fields without presence included), restricted to a read mask."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, struct_pb2, wrappers_pb2
from google.protobuf.message import Message

from darkroom._proto.darkroom.queue.v1 import queue_pb2 as qpb
from darkroom._proto.darkroom.social.v1 import social_pb2 as spb
from darkroom.api import protojson
from darkroom.api.errors import InvalidFieldMask
from darkroom.api.fieldmask import Mask

_F = descriptor_pb2.FieldDescriptorProto


def _schema() -> Any:
    """Every kind of field the social and queue protos do not have: float, unsigned and zigzag
    integers, enums (also unknown numbers), maps with int and bool keys, oneofs, Struct, wrappers."""
    file = descriptor_pb2.FileDescriptorProto(name="protojson_test.proto", package="pjtest", syntax="proto3")
    file.dependency.extend(["google/protobuf/struct.proto", "google/protobuf/wrappers.proto"])
    color = file.enum_type.add(name="Color")
    for i, name in enumerate(("COLOR_UNSPECIFIED", "RED", "GREEN")):
        color.value.add(name=name, number=i)
    inner = file.message_type.add(name="Inner")
    inner.field.add(name="n", number=1, type=_F.TYPE_INT32, label=_F.LABEL_OPTIONAL)
    m = file.message_type.add(name="All")
    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    for number, (name, type_, label, type_name) in enumerate(
        (
            ("f32", _F.TYPE_FLOAT, opt, None),
            ("d", _F.TYPE_DOUBLE, opt, None),
            ("s64", _F.TYPE_SINT64, opt, None),
            ("u64", _F.TYPE_UINT64, opt, None),
            ("u32", _F.TYPE_UINT32, opt, None),
            ("raw", _F.TYPE_BYTES, opt, None),
            ("color", _F.TYPE_ENUM, opt, ".pjtest.Color"),
            ("colors", _F.TYPE_ENUM, rep, ".pjtest.Color"),
            ("by_int", _F.TYPE_MESSAGE, rep, ".pjtest.All.ByIntEntry"),
            ("by_bool", _F.TYPE_MESSAGE, rep, ".pjtest.All.ByBoolEntry"),
            ("text", _F.TYPE_STRING, opt, None),
            ("inner", _F.TYPE_MESSAGE, opt, ".pjtest.Inner"),
            ("struct", _F.TYPE_MESSAGE, opt, ".google.protobuf.Struct"),
            ("wrapped", _F.TYPE_MESSAGE, opt, ".google.protobuf.Int64Value"),
            ("inners", _F.TYPE_MESSAGE, rep, ".pjtest.Inner"),
            ("maybe", _F.TYPE_STRING, opt, None),
        ),
        start=1,
    ):
        field = m.field.add(name=name, number=number, type=type_, label=label)
        if type_name:
            field.type_name = type_name
    m.oneof_decl.add(name="choice")
    m.field[10].oneof_index = 0  # text
    m.field[11].oneof_index = 0  # inner
    m.oneof_decl.add(name="_maybe")
    m.field[15].proto3_optional = True
    m.field[15].oneof_index = 1
    for name, key_type, value_type, value_name in (
        ("ByIntEntry", _F.TYPE_INT64, _F.TYPE_STRING, None),
        ("ByBoolEntry", _F.TYPE_BOOL, _F.TYPE_MESSAGE, ".pjtest.Inner"),
    ):
        entry = m.nested_type.add(name=name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key_type, label=opt)
        value = entry.field.add(name="value", number=2, type=value_type, label=opt)
        if value_name:
            value.type_name = value_name
    assert struct_pb2.Struct and wrappers_pb2.Int64Value  # imported: their files are in the default pool
    pool = descriptor_pool.Default()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("pjtest.All"))


All = _schema()


def _reference(message: Message, mask: str | None = None) -> dict[str, Any]:
    """json_format's print of the projected message, keeping only the masked top-level fields (it
    prints the defaults of every field, selected or not)."""
    parsed = Mask.parse(mask, message.DESCRIPTOR)
    printed = json_format.MessageToDict(
        parsed.project(message), preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    if parsed.selects_all:
        return printed
    return _keep(printed, parsed.paths)


def _keep(printed: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in dict.fromkeys(p[0] for p in paths):
        if name not in printed:
            continue
        inner = [p[1:] for p in paths if p[0] == name and len(p) > 1]
        value = printed[name]
        out[name] = _keep(value, tuple(inner)) if inner and isinstance(value, dict) and () not in inner else value
    return out


def _all() -> Any:
    m = All(f32=0.1, d=2.5, s64=-(2**62), u64=2**64 - 1, u32=2**32 - 1, raw=b"\x00\xffbytes", color=2, text="x")
    m.colors.extend([1, 2, 7])  # 7: a number the enum does not name
    m.by_int[-3] = "minus three"
    m.by_int[2**40] = "big"
    m.by_bool[True].n = 1
    m.by_bool[False].n = 0
    m.struct.update({"a": [1, "two", None], "b": {"c": True}})
    m.wrapped.value = 2**53 + 1
    m.inners.add(n=5)
    m.inners.add()
    m.maybe = ""
    return m


def _social() -> spb.Post:
    post = spb.Post(id="p", caption="<b>hi</b> \u2028 \U0001f600", state="ready", like_count=3, tags=["a", "b"])
    post.author.handle = "alice"
    post.author.created_at.FromMilliseconds(1_767_225_600_123)
    media = post.media.add(id="m", kind="video", duration_s=12.25, width=1920)
    media.renditions.add(url="/v1/media/k", role="hls")
    post.created_at.FromNanoseconds(1_767_225_600_000_000_001)
    return post


def _queue() -> qpb.Message:
    m = qpb.Message(id="1", queue="q", payload=b"\x01\x02", state=qpb.STATE_RUNNING, attempts=2, last_error="boom")
    m.metadata["codec"] = "h264"
    m.metadata["a.b"] = "dotted"
    m.deadline.FromSeconds(1_767_225_600)
    return m


@pytest.mark.parametrize("make", [_all, _social, _queue, All, spb.Post, qpb.QueueStats])
def test_a_whole_message_prints_as_json_format_does(make: Any) -> None:
    message = make()
    assert protojson.to_dict(message) == _reference(message)
    assert orjson.loads(protojson.to_json(message)) == _reference(message)


@pytest.mark.parametrize(
    ("make", "mask"),
    [
        (_all, "f32,colors,by_int"),
        (_all, "by_int.-3,by_bool.true,inner.n,maybe"),
        (_all, "struct,wrapped,text"),
        (_social, "id,like_count,liked_by_me,error"),
        (_social, "author.handle,author.follower_count,author.created_at"),
        (_social, "media,created_at.seconds"),
        (_queue, "metadata.`a.b`,state,payload,result,attempts"),
        (spb.Post, "author,author.handle,media"),  # an unset message prints nothing, even when selected
    ],
)
def test_a_masked_message_prints_the_masked_fields_with_their_defaults(make: Any, mask: str) -> None:
    message = make()
    assert protojson.to_dict(message, mask) == _reference(message, mask)


def test_values_json_cannot_hold_print_as_the_mapping_says() -> None:
    printed = protojson.to_dict(_all())
    assert printed["u64"] == str(2**64 - 1) and printed["s64"] == str(-(2**62))  # 64-bit as strings
    assert printed["f32"] == 0.1  # the shortest decimal of the 32-bit float, not 0.10000000149011612
    assert printed["colors"] == ["RED", "GREEN", 7] and printed["color"] == "GREEN"
    assert printed["by_bool"] == {"true": {"n": 1}, "false": {"n": 0}}
    assert printed["wrapped"] == str(2**53 + 1)
    for value, text in ((math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")):
        assert protojson.to_dict(All(d=value, f32=value), "d,f32") == {"d": text, "f32": text}
    assert protojson.to_dict(_queue(), "deadline") == {"deadline": "2026-01-01T00:00:00Z"}


def test_bad_masks_are_refused_naming_the_path() -> None:
    with pytest.raises(InvalidFieldMask, match="'nope'"):
        protojson.to_json(_social(), "id,nope")
    with pytest.raises(TypeError, match=r"darkroom\.social\.v1\.Account"):
        protojson.to_json(_social(), Mask.parse("", spb.Account.DESCRIPTOR))
