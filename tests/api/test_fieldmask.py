"""darkroom.api.fieldmask: validation, read projection, AIP-161 updates, over a test schema."""

from __future__ import annotations

import string
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.field_mask_pb2 import FieldMask
from hypothesis import given, settings
from hypothesis import strategies as st

from darkroom.api import fieldmask as fm
from darkroom.api.errors import ApiError, InvalidFieldMask, MissingUpdateMask
from darkroom.errors import DarkroomError

# -- a schema with every shape a mask meets: scalars with and without presence, nested messages,
# repeated scalars and messages, maps with string, int and bool keys, a oneof --------------------
_F = descriptor_pb2.FieldDescriptorProto


def _schema() -> tuple[Any, Any]:
    file = descriptor_pb2.FileDescriptorProto(name="fm_test.proto", package="fmtest", syntax="proto3")

    def msg(name: str, *fields: tuple[str, int, int, str | None, int], map_entry: bool = False) -> Any:
        m = file.message_type.add(name=name)
        if map_entry:
            m.options.map_entry = True
        for fname, number, ftype, type_name, label in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
        return m

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    msg("Address", ("city", 1, _F.TYPE_STRING, None, opt), ("zip", 2, _F.TYPE_STRING, None, opt))
    msg(
        "Author",
        ("display_name", 1, _F.TYPE_STRING, None, opt),
        ("age", 2, _F.TYPE_INT32, None, opt),
        ("address", 3, _F.TYPE_MESSAGE, ".fmtest.Address", opt),
    )
    book = msg(
        "Book",
        ("title", 1, _F.TYPE_STRING, None, opt),
        ("pages", 2, _F.TYPE_INT32, None, opt),
        ("author", 3, _F.TYPE_MESSAGE, ".fmtest.Author", opt),
        ("tags", 4, _F.TYPE_STRING, None, rep),
        ("co_authors", 5, _F.TYPE_MESSAGE, ".fmtest.Author", rep),
        ("labels", 6, _F.TYPE_MESSAGE, ".fmtest.Book.LabelsEntry", rep),
        ("by_id", 7, _F.TYPE_MESSAGE, ".fmtest.Book.ByIdEntry", rep),
        ("flags", 8, _F.TYPE_MESSAGE, ".fmtest.Book.FlagsEntry", rep),
        ("rating", 9, _F.TYPE_DOUBLE, None, opt),
        ("isbn", 10, _F.TYPE_STRING, None, opt),
        ("ebook_url", 11, _F.TYPE_STRING, None, opt),
    )
    book.oneof_decl.add(name="format")  # ebook_url lives in a real oneof
    book.field[10].oneof_index = 0
    book.oneof_decl.add(name="_isbn")  # isbn: proto3 `optional` (a synthetic oneof, declared last)
    book.field[9].proto3_optional = True
    book.field[9].oneof_index = 1
    for name, key_type, value_type, value_name in (
        ("LabelsEntry", _F.TYPE_STRING, _F.TYPE_STRING, None),
        ("ByIdEntry", _F.TYPE_INT64, _F.TYPE_MESSAGE, ".fmtest.Author"),
        ("FlagsEntry", _F.TYPE_BOOL, _F.TYPE_STRING, None),
    ):
        entry = book.nested_type.add(name=name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key_type, label=opt)
        value = entry.field.add(name="value", number=2, type=value_type, label=opt)
        if value_name:
            value.type_name = value_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("fmtest.Book")), get(pool.FindMessageTypeByName("fmtest.Author"))


Book, Author = _schema()
BOOK = Book.DESCRIPTOR


def sample() -> Any:
    b = Book(title="Dune", pages=412, tags=["sf", "classic"], rating=4.5, isbn="978")
    b.author.display_name = "Frank"
    b.author.age = 65
    b.author.address.city = "Tacoma"
    b.co_authors.add(display_name="Brian")
    b.labels["lang"] = "en"
    b.labels["a.b"] = "dotted"
    b.by_id[7].display_name = "Seven"
    b.flags[True] = "yes"
    return b


# -- parsing and validation ------------------------------------------------------------------------
def test_errors_are_darkroom_errors_and_value_errors() -> None:
    assert issubclass(InvalidFieldMask, ApiError)
    assert issubclass(InvalidFieldMask, DarkroomError)
    assert issubclass(InvalidFieldMask, ValueError)
    assert issubclass(MissingUpdateMask, InvalidFieldMask)


@pytest.mark.parametrize(
    "mask",
    [
        FieldMask(paths=["title", "author.display_name"]),
        "title,author.display_name",
        " title , author.display_name ,",
        ["title", "author.display_name"],
        ["title,author.display_name"],
    ],
)
def test_every_input_form_parses_the_same(mask: Any) -> None:
    parsed = fm.parse(mask, BOOK)
    assert parsed.paths == (("author", "display_name"), ("title",))
    assert str(parsed) == "author.display_name,title"


def test_empty_and_star() -> None:
    empty: Any
    for empty in (None, "", [], FieldMask()):
        m = fm.parse(empty, BOOK)
        assert m.empty and m.selects_all and not m.everything
        assert m.top_level_fields() is None
    star = fm.parse("*", BOOK)
    assert star.everything and star.selects_all and not star.empty
    assert fm.parse("title,*", BOOK).everything
    assert star.to_proto().paths == ["*"]


def test_canonical_form_drops_covered_and_duplicate_paths() -> None:
    m = fm.parse("author.address.city,author,title,title,labels.x,labels", BOOK)
    assert m.paths == (("author",), ("labels",), ("title",))


@pytest.mark.parametrize(
    ("mask", "needle"),
    [
        ("nope", "'nope' is not a field of fmtest.Book"),
        ("author.nope", "'nope' is not a field of fmtest.Author"),
        ("tags.0", "repeated field 'tags' must end the path"),
        ("co_authors.display_name", "repeated field 'co_authors' must end the path"),
        ("title.x", "'title' is not a message"),
        ("labels.a.b", "a map key must end the path"),
        ("by_id.x", "'x' is not a key of map 'by_id'"),
        ("by_id.99999999999999999999", "is not a key of map 'by_id'"),
        ("flags.maybe", "'maybe' is not a key of map 'flags'"),
        ("author..age", "empty element"),
        ("author.*", "'*' must be the whole path"),
        ("labels.`open", "unterminated backtick"),
        ("labels.a`b`", "quotes only part"),
    ],
)
def test_invalid_paths_are_named(mask: str, needle: str) -> None:
    with pytest.raises(InvalidFieldMask) as err:
        fm.parse(mask, BOOK, name="read_mask")
    assert needle in str(err.value)
    assert err.value.field == "read_mask"
    assert repr(mask) in str(err.value)


def test_non_string_paths_are_refused() -> None:
    with pytest.raises(InvalidFieldMask, match="must be strings"):
        fm.parse(["title", 3], BOOK)  # type: ignore[list-item]
    with pytest.raises(InvalidFieldMask, match="list of paths"):
        fm.parse(3, BOOK)  # type: ignore[arg-type]


def test_map_keys_quoting_round_trips() -> None:
    m = fm.parse(["labels.`a.b`", "labels.plain", "labels.`x``y`", "by_id.7", "flags.true"], BOOK)
    assert ("labels", "a.b") in m.paths and ("labels", "x`y") in m.paths
    again = fm.parse(str(m), BOOK)
    assert again.paths == m.paths
    assert fm.format_path(("labels", "a,b")) == "labels.`a,b`"
    assert fm.split_paths("labels.`a,b`,title") == ["labels.`a,b`", "title"]


def test_top_level_fields_keep_mask_order_without_duplicates() -> None:
    assert fm.top_level_fields("title,author.age,author.display_name,labels.x", BOOK) == ["author", "labels", "title"]
    assert fm.top_level_fields("*", BOOK) is None


def test_mask_and_message_types_must_match() -> None:
    with pytest.raises(TypeError):
        fm.parse("title", BOOK).project(Author())


# -- reads -----------------------------------------------------------------------------------------
def test_projection_returns_only_masked_fields() -> None:
    b = sample()
    p = fm.project(b, "title,author.address.city,labels.`a.b`,by_id.7,tags")
    assert p.title == "Dune" and p.pages == 0 and list(p.tags) == ["sf", "classic"]
    assert p.author.address.city == "Tacoma" and p.author.display_name == "" and p.author.age == 0
    assert dict(p.labels) == {"a.b": "dotted"}
    assert p.by_id[7].display_name == "Seven"
    assert not p.co_authors and not p.flags and not p.HasField("isbn")


def test_projection_of_everything_is_a_copy() -> None:
    b = sample()
    for mask in (None, "*", ""):
        p = fm.project(b, mask)
        assert p == b and p is not b


def test_projection_skips_absent_parents_and_keys() -> None:
    p = fm.project(Book(title="x"), "author.display_name,labels.missing,isbn")
    assert not p.HasField("author") and not p.labels and not p.HasField("isbn")


# -- updates ---------------------------------------------------------------------------------------
def test_update_without_mask_is_refused() -> None:
    for empty in (None, "", FieldMask()):
        with pytest.raises(MissingUpdateMask) as err:
            fm.apply_update(sample(), Book(), empty)
        assert err.value.field == "update_mask"


def test_update_replaces_repeated_maps_and_messages() -> None:
    target = sample()
    body = Book(tags=["new"])
    body.labels["only"] = "this"
    body.author.display_name = "Other"
    fm.apply_update(target, body, "tags,labels,author")
    assert list(target.tags) == ["new"]
    assert dict(target.labels) == {"only": "this"}
    assert target.author == body.author  # address and age are gone: replaced, not merged
    assert target.title == "Dune"


def test_masked_fields_absent_from_the_body_are_cleared() -> None:
    target = sample()
    fm.apply_update(target, Book(), "title,isbn,co_authors,labels.lang,author.address.city")
    assert target.title == "" and not target.HasField("isbn") and not target.co_authors
    assert dict(target.labels) == {"a.b": "dotted"}
    # the body has no author at all: the nested path is still cleared (protobuf's MergeMessage skips it)
    assert target.author.address.city == ""
    assert target.author.display_name == "Frank"


def test_nested_update_creates_the_parent_and_leaves_siblings() -> None:
    target = Book(title="t")
    body = Book()
    body.author.address.zip = "98401"
    fm.apply_update(target, body, "author.address.zip")
    assert target.author.address.zip == "98401" and target.title == "t"
    untouched = Book(title="t")
    fm.apply_update(untouched, Book(), "author.address.zip")
    assert not untouched.HasField("author")  # nothing to clear: the parent stays unset


def test_star_replaces_everything_or_only_allowed_fields() -> None:
    target = sample()
    body = Book(title="New")
    fm.apply_update(target, body, "*")
    assert target == body
    target = sample()
    fm.apply_update(target, body, "*", allowed=["title", "pages"])
    assert target.title == "New" and target.pages == 0 and list(target.tags) == ["sf", "classic"]


def test_allowed_paths_limit_updates() -> None:
    fm.apply_update(sample(), Book(), "author.age", allowed=["author", "title"])
    with pytest.raises(InvalidFieldMask, match=r"'tags' cannot be updated; updatable: author, title"):
        fm.apply_update(sample(), Book(), "tags", allowed=["author", "title"])
    with pytest.raises(InvalidFieldMask, match=r"paths 'pages', 'tags' cannot be updated; updatable: author, title"):
        fm.apply_update(sample(), Book(), "title,tags,pages", allowed=["author", "title"])  # every one named


def test_map_entry_update_sets_and_deletes_keys() -> None:
    target = sample()
    body = Book()
    body.labels["lang"] = "fr"
    body.by_id[8].display_name = "Eight"
    fm.apply_update(target, body, "labels.lang,labels.`a.b`,by_id.8,by_id.7,flags.true")
    assert dict(target.labels) == {"lang": "fr"}
    assert list(target.by_id) == [8] and target.by_id[8].display_name == "Eight"
    assert not target.flags


def test_oneof_member_update() -> None:
    target = sample()
    fm.apply_update(target, Book(ebook_url="https://x"), "ebook_url")
    assert target.WhichOneof("format") == "ebook_url"
    fm.apply_update(target, Book(), "ebook_url")
    assert target.WhichOneof("format") is None


# -- properties ------------------------------------------------------------------------------------
_text = st.text(alphabet=string.ascii_letters + string.digits + "._-` ,é", max_size=6)


@st.composite
def authors(draw: st.DrawFn, depth: int = 0) -> Any:
    a = Author()
    if draw(st.booleans()):
        a.display_name = draw(_text)
    if draw(st.booleans()):
        a.age = draw(st.integers(-(2**31), 2**31 - 1))
    if draw(st.booleans()):
        a.address.city = draw(_text)
        if draw(st.booleans()):
            a.address.zip = draw(_text)
    return a


@st.composite
def books(draw: st.DrawFn) -> Any:
    b = Book()
    if draw(st.booleans()):
        b.title = draw(_text)
    if draw(st.booleans()):
        b.pages = draw(st.integers(-(2**31), 2**31 - 1))
    if draw(st.booleans()):
        b.author.CopyFrom(draw(authors()))
    b.tags.extend(draw(st.lists(_text, max_size=3)))
    for a in draw(st.lists(authors(), max_size=2)):
        b.co_authors.add().CopyFrom(a)
    b.labels.update(draw(st.dictionaries(_text, _text, max_size=3)))
    for k, a in draw(st.dictionaries(st.integers(-(2**63), 2**63 - 1), authors(), max_size=2)).items():
        b.by_id[k].CopyFrom(a)
    b.flags.update(draw(st.dictionaries(st.booleans(), _text, max_size=2)))
    if draw(st.booleans()):
        b.rating = draw(st.floats(allow_nan=False))
    if draw(st.booleans()):
        b.isbn = draw(_text)
    if draw(st.booleans()):
        b.ebook_url = draw(_text)
    return b


_PLAIN = [
    "title",
    "pages",
    "author",
    "author.display_name",
    "author.age",
    "author.address",
    "author.address.city",
    "author.address.zip",
    "tags",
    "co_authors",
    "labels",
    "by_id",
    "flags",
    "rating",
    "isbn",
    "ebook_url",
]
_KEYED = st.one_of(
    _text.filter(bool).map(lambda k: fm.format_path(("labels", k))),
    st.integers(-(2**63), 2**63 - 1).map(lambda k: f"by_id.{k}"),
    st.sampled_from(["flags.true", "flags.false"]),
)
paths = st.lists(st.one_of(st.sampled_from(_PLAIN), _KEYED), min_size=1, max_size=5)


def read(message: Any, path: tuple[str, ...]) -> tuple[bool | None, Any]:
    """What a read of ``path`` sees: (leaf presence where it has one, value). Unset parents read as
    empty messages, the way generated code reads them."""
    *parents, leaf = path
    for i, name in enumerate(parents):
        fd = message.DESCRIPTOR.fields_by_name[name]
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            raw = path[i + 1]
            key: Any = (raw == "true") if name == "flags" else int(raw) if name == "by_id" else raw
            container = getattr(message, name)
            return key in container, container.get(key)
        message = getattr(message, name)
    fd = message.DESCRIPTOR.fields_by_name[leaf]
    value = getattr(message, leaf)
    presence = message.HasField(leaf) if fd.has_presence else None
    return presence, list(value) if fd.is_repeated and not hasattr(value, "keys") else value


def test_read_helper_sees_map_entries() -> None:
    b = sample()
    assert read(b, ("labels", "a.b")) == (True, "dotted")
    assert read(b, ("by_id", "8")) == (False, None)
    assert read(b, ("author", "address", "city")) == (None, "Tacoma")


@given(books(), paths)
@settings(max_examples=200, deadline=None)
def test_projection_keeps_exactly_the_masked_values(book: Any, mask_paths: list[str]) -> None:
    mask = fm.parse(mask_paths, BOOK)
    p = mask.project(book)
    for path in mask.paths:
        assert read(p, path) == read(book, path), path
        # parents appear in the projection exactly when they are set in the source
        src, out = book, p
        for name in path[:-1]:
            fd = src.DESCRIPTOR.fields_by_name[name]
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                break
            assert out.HasField(name) == src.HasField(name), (path, name)
            src, out = getattr(src, name), getattr(out, name)
    # nothing outside the mask, and projecting again changes nothing
    for fd, _ in p.ListFields():
        assert any(path[0] == fd.name for path in mask.paths)
    assert mask.project(p) == p


@given(books(), paths)
@settings(max_examples=100, deadline=None)
def test_projection_of_whole_fields_agrees_with_protobuf(book: Any, mask_paths: list[str]) -> None:
    # protobuf's own merge agrees wherever it can express the mask: top-level fields, no map keys
    top = sorted({p.split(".")[0] for p in mask_paths if not p.startswith(("labels.", "by_id.", "flags."))})
    if top:
        reference = Book()
        FieldMask(paths=top).MergeMessage(book, reference)
        assert fm.project(book, top) == reference


@given(books(), books(), paths)
@settings(max_examples=200, deadline=None)
def test_update_then_read_with_the_same_mask_round_trips(target: Any, body: Any, mask_paths: list[str]) -> None:
    mask = fm.parse(mask_paths, BOOK, name="update_mask")
    before = Book()
    before.CopyFrom(target)
    mask.apply(target, body)
    # AIP-161 consistency: what was written is what a read with the same mask returns
    for path in mask.paths:
        assert read(target, path) == read(body, path), path
    # fields outside the mask are untouched
    touched = {path[0] for path in mask.paths}
    for fd in BOOK.fields:
        if fd.name not in touched:
            assert getattr(target, fd.name) == getattr(before, fd.name), fd.name


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_is_a_mask_or_a_named_error(text: str) -> None:
    try:
        m = fm.parse(text, BOOK)
    except InvalidFieldMask as err:
        assert err.field == "read_mask"
        assert str(err)
    else:
        # a valid mask survives formatting and parsing again
        assert fm.parse(str(m), BOOK) == m


@given(st.lists(st.text(alphabet=string.printable + "é", min_size=1, max_size=8), min_size=1, max_size=4))
def test_format_and_split_are_inverse(elements: list[str]) -> None:
    path = tuple(elements)
    assert fm.split_path(fm.format_path(path)) == path
    assert fm.split_paths(fm.format_path(path)) == [fm.format_path(path)]
