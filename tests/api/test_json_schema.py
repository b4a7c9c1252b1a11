"""The JSON Schemas of messages (``api/json_schema.py``) accept what ``api/protojson.py`` prints,
every field kind and every mask, and refuse what drifts from the proto."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from google.protobuf.descriptor import Descriptor

from darkroom._proto.darkroom.social.v1 import social_pb2 as spb
from darkroom.api import protojson
from darkroom.api.json_schema import message_schemas, ref, schema_name
from tests.api.test_protojson import All, _all, _social


def _validator(descriptor: Descriptor) -> jsonschema.Draft202012Validator:
    root = {**ref(descriptor), "components": {"schemas": message_schemas([descriptor])}}
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("mask", [None, "f32,u64", "by_int,by_bool,inner", "colors,struct,wrapped,maybe"])
def test_every_field_kind_as_printed_fits_its_schema(mask: str | None) -> None:
    validator = _validator(All.DESCRIPTOR)
    validator.validate(protojson.to_dict(_all(), mask))
    validator.validate(protojson.to_dict(All(), mask))  # defaults, nothing set
    extremes = _all()
    extremes.d, extremes.f32 = float("nan"), float("-inf")
    validator.validate(protojson.to_dict(extremes, mask))


@pytest.mark.parametrize("mask", [None, "id,caption", "author.handle,media", "created_at"])
def test_a_post_as_the_api_prints_it_fits_and_drift_does_not(mask: str | None) -> None:
    validator = _validator(spb.Post.DESCRIPTOR)
    printed = protojson.to_dict(_social(), mask)
    validator.validate(printed)
    for broken in ({**printed, "password_hash": "x"}, {**printed, "like_count": "3"}, {**printed, "tags": "a"}):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)


def test_every_message_inside_gets_one_schema_named_after_it() -> None:
    schemas = message_schemas([spb.Post.DESCRIPTOR, spb.Account.DESCRIPTOR])
    assert sorted(schemas) == ["Account", "Media", "Post", "Rendition"]
    assert schemas["Post"]["properties"]["author"] == {"$ref": "#/components/schemas/Account"}
    assert schemas["Post"]["properties"]["created_at"] == {"type": "string", "format": "date-time"}
    assert schema_name(All.DESCRIPTOR.nested_types_by_name["ByIntEntry"]) == "AllByIntEntry"
    printed: Any = protojson.to_dict(_all())
    assert isinstance(printed["u64"], str)  # the schema's string for 64-bit integers is the printer's
