"""The sample social data set of ``darkroom seed --sample``: four accounts (one private), follows,
posts of generated photos and one short clip, with hashtags and mentions, likes and comments.

Only data here; :mod:`darkroom.cli.demos.seeding` plants it. Sample accounts have emails at
``SAMPLE_EMAIL_DOMAIN`` (``.invalid`` is reserved, so no real address), which is how a later run
tells the sample's accounts from real ones with the same handle.
"""

from __future__ import annotations

from dataclasses import dataclass

from darkroom.cli.demos.samples import Picture

__all__ = [
    "SAMPLE",
    "SAMPLE_EMAIL_DOMAIN",
    "Clip",
    "SampleAccount",
    "SampleComment",
    "SampleFollow",
    "SampleLike",
    "SamplePost",
    "SampleSet",
]

SAMPLE_EMAIL_DOMAIN = "sample.darkroom.invalid"


@dataclass(frozen=True, slots=True)
class SampleAccount:
    handle: str
    display_name: str
    bio: str
    private: bool = False

    @property
    def email(self) -> str:
        return f"{self.handle}@{SAMPLE_EMAIL_DOMAIN}"


@dataclass(frozen=True, slots=True)
class SampleFollow:
    """``follower`` follows ``followee``; towards a private account that is a request, which the
    followee accepts when ``accepted`` (else it stays waiting, to show in its follow requests)."""

    follower: str
    followee: str
    accepted: bool = True


@dataclass(frozen=True, slots=True)
class Clip:
    """A generated clip (:func:`darkroom.media.synthetic.make_clip`): the streaming profile needs 240
    lines at least, and the smaller the quicker it is ready (pictures too: a sample, not a gallery)."""

    name: str
    duration_s: float = 1.0
    width: int = 426
    height: int = 240


@dataclass(frozen=True, slots=True)
class SamplePost:
    """A post, named by ``key`` for the likes and comments (a post's id is known only once made)."""

    key: str
    author: str
    caption: str
    media: tuple[Picture | Clip, ...]


@dataclass(frozen=True, slots=True)
class SampleLike:
    who: str
    post: str  # a SamplePost.key


@dataclass(frozen=True, slots=True)
class SampleComment:
    who: str
    post: str  # a SamplePost.key
    text: str


@dataclass(frozen=True, slots=True)
class SampleSet:
    accounts: tuple[SampleAccount, ...]
    follows: tuple[SampleFollow, ...]
    posts: tuple[SamplePost, ...]
    likes: tuple[SampleLike, ...]
    comments: tuple[SampleComment, ...]


SAMPLE = SampleSet(
    accounts=(
        SampleAccount("ana", "Ana Lima", "Harbours, light and long walks. #sunset chaser"),
        SampleAccount("ben", "Ben Okafor", "Shapes, colour and a new camera."),
        SampleAccount("cleo", "Cleo Park", "A private account: follow to see my posts.", private=True),
        SampleAccount("dara", "Dara Quinn", "New here."),
    ),
    follows=(
        SampleFollow("ben", "ana"),
        SampleFollow("ana", "ben"),
        SampleFollow("dara", "ana"),
        SampleFollow("dara", "ben"),
        SampleFollow("cleo", "ana"),
        SampleFollow("ben", "cleo"),
        SampleFollow("ana", "cleo"),
        SampleFollow("dara", "cleo", accepted=False),
    ),
    posts=(
        SamplePost(
            "sunset",
            "ana",
            "Golden hour over the harbour #sunset #harbour, thanks for the tip @ben!",
            (Picture("golden hour", 960, 640, (255, 140, 40), (90, 30, 140), seed=1),),
        ),
        SamplePost(
            "walls",
            "ana",
            "Two walls, one street #streetart #colour",
            (
                Picture("wall one", 640, 800, (20, 160, 200), (250, 230, 90), seed=2),
                Picture("wall two", 720, 720, (230, 40, 90), (40, 40, 120), seed=3),
            ),
        ),
        SamplePost(
            "clip",
            "ben",
            "First clip from the new camera: a test pattern, then a fractal #video #darkroom @ana",
            (Clip("first clip"),),
        ),
        SamplePost(
            "shapes",
            "ben",
            "Morning shapes #geometry #colour",
            (Picture("morning shapes", 768, 960, (250, 250, 240), (60, 180, 120), shapes=12, seed=4),),
        ),
        SamplePost(
            "quiet",
            "cleo",
            "For my followers only #sunset #quiet",
            (Picture("quiet evening", 840, 560, (30, 40, 90), (240, 120, 90), seed=5),),
        ),
        SamplePost(
            "hello",
            "dara",
            "Hello, darkroom! #firstpost @ana @ben",
            (Picture("hello", 600, 600, (120, 60, 200), (40, 220, 200), seed=6),),
        ),
    ),
    likes=(
        SampleLike("ben", "sunset"),
        SampleLike("dara", "sunset"),
        SampleLike("cleo", "sunset"),
        SampleLike("ben", "walls"),
        SampleLike("ana", "clip"),
        SampleLike("dara", "clip"),
        SampleLike("ana", "shapes"),
        SampleLike("dara", "shapes"),
        SampleLike("ben", "quiet"),
        SampleLike("ana", "hello"),
    ),
    comments=(
        SampleComment("ben", "sunset", "What a sky! Worth the early start."),
        SampleComment("ana", "sunset", "@ben next time you are coming along"),
        SampleComment("dara", "clip", "Smooth. Which camera is it?"),
        SampleComment("ben", "clip", "@dara a tiny one, more soon #video"),
        SampleComment("ana", "quiet", "Lovely colours"),
        SampleComment("ana", "hello", "Welcome, @dara!"),
    ),
)
