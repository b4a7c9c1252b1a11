"""post_view and photo_of: what a post's template gets from the API's Post message."""

from __future__ import annotations

from darkroom._proto.darkroom.social.v1.social_pb2 import Media, Post, Rendition
from darkroom.web.pages.post_views import Photo, Video, VideoSlide, ago, clock, photo_of, post_view, video_of


def _image(url: str, kind: str, width: int, role: str = "image") -> Rendition:
    return Rendition(url=url, content_type=kind, width=width, height=width * 5 // 4, role=role)


def test_a_photo_is_a_picture_of_every_format_with_the_img_sized_from_its_rendition() -> None:
    media = Media(
        kind="photo",
        renditions=[
            _image("/j320", "image/jpeg", 320),
            _image("/j1080", "image/jpeg", 1080),
            _image("/j1440", "image/jpeg", 1440),
            _image("/w320", "image/webp", 320),
            _image("/a640", "image/avif", 640),
            _image("/t150", "image/jpeg", 150, role="thumbnail"),
        ],
    )
    photo = photo_of(media, "alt")
    assert photo is not None
    assert (photo.src, photo.width, photo.height) == ("/j1080", 1080, 1350)
    assert photo.srcset == "/j320 320w, /j1080 1080w, /j1440 1440w"
    assert [(s.type, s.srcset) for s in photo.sources] == [("image/avif", "/a640 640w"), ("image/webp", "/w320 320w")]
    small = photo_of(Media(renditions=[_image("/w320", "image/webp", 320)]), "alt")
    assert small is not None and small.src == "/w320" and small.sources == ()


def test_a_video_shows_its_poster_and_media_without_renditions_nothing() -> None:
    video = photo_of(Media(kind="video", renditions=[_image("/poster", "image/jpeg", 640, role="poster")]), "a")
    assert video is not None and video.is_video and video.src == "/poster"
    assert photo_of(Media(kind="photo", state="processing"), "a") is None


def test_a_video_with_an_hls_package_gets_a_player_over_its_poster() -> None:
    media = Media(
        kind="video",
        duration_s=62.5,
        renditions=[
            _image("/poster", "image/jpeg", 640, role="poster"),
            Rendition(url="/pkg/hls/master.m3u8", content_type="application/vnd.apple.mpegurl", role="hls"),
            Rendition(url="/pkg/dash/manifest.mpd", content_type="application/dash+xml", role="dash"),
            Rendition(url="/board/storyboard.vtt", content_type="text/vtt", role="storyboard"),
        ],
    )
    assert video_of(media) == Video("/pkg/hls/master.m3u8", "/board/storyboard.vtt", 62.5)
    assert video_of(Media(kind="video", renditions=[media.renditions[0], media.renditions[1]])) == Video(
        "/pkg/hls/master.m3u8", None, 0.0
    )
    assert video_of(Media(kind="video", renditions=[media.renditions[0]])) is None  # no package: the poster alone
    post = Post(id="p1")
    post.author.handle = "ana"
    post.media.append(media)
    view = post_view(post)
    (slide,) = view.slides
    assert isinstance(slide, VideoSlide) and slide.video.length == "1:02" and slide.template == "_video.html"
    assert view.photo is not None and view.photo.src == "/poster" and view.photo.alt == "A video by @ana"
    del post.media[0].renditions[0]  # a package without a poster: no box to start from, no player
    assert post_view(post).slides == ()


def test_a_mixed_post_is_a_sequence_of_slides_each_what_it_is() -> None:
    post = Post(id="p1", caption="dusk")
    post.author.handle = "ana"
    post.media.append(Media(kind="photo", renditions=[_image("/j", "image/jpeg", 640)]))
    video = post.media.add(kind="video", duration_s=3)
    video.renditions.extend([
        _image("/poster", "image/jpeg", 640, role="poster"),
        Rendition(url="/pkg/hls/master.m3u8", content_type="application/vnd.apple.mpegurl", role="hls"),
    ])  # fmt: skip
    post.media.append(Media(kind="video", renditions=[_image("/p2", "image/jpeg", 640, role="poster")]))
    view = post_view(post)
    photo, player, poster = view.slides
    assert isinstance(photo, Photo) and photo.src == "/j" and not photo.is_video
    assert isinstance(player, VideoSlide) and player.poster.src == "/poster" and player.video.hls.endswith(".m3u8")
    assert isinstance(poster, Photo) and poster.is_video  # no package yet: its poster, badged
    assert [s.kind for s in view.slides] == ["photo", "video", "photo"] and view.noun == "items"
    assert view.photo is not None and view.photo.src == "/j"  # the Open Graph image: the first item's


def test_clock() -> None:
    assert [clock(s) for s in (0, 3.99, 61, 3600, 3725, -1)] == ["0:00", "0:03", "1:01", "1:00:00", "1:02:05", "0:00"]


def test_post_view_alt_text_counts_and_time() -> None:
    post = Post(id="p1", caption="  ", like_count=3, comment_count=1, liked_by_me=True)
    post.author.handle, post.author.display_name = "ana", ""
    post.created_at.FromSeconds(1_700_000_000)
    post.media.append(Media(renditions=[_image("/j", "image/jpeg", 640)]))
    view = post_view(post, now=1_700_000_000 + 7200)
    assert view.photo is not None and view.photo.alt == "A photo by @ana"
    assert (view.author_name, view.author_href, view.created_ago) == ("ana", "/@ana", "2h")
    assert view.created_iso == "2023-11-14T22:13:20+00:00" and view.caption == ()
    assert (view.like_count, view.liked, view.comment_count, view.media_count) == (3, True, 1, 1)


def test_ago() -> None:
    now = 1_765_000_000.0
    assert [ago(now - s, now=now) for s in (5, 300, 7200, 3 * 86400)] == ["now", "5m", "2h", "3d"]
    assert ago(now - 30 * 86400, now=now) == "6 Nov 2025"
