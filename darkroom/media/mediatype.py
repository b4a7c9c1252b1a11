"""The MIME type of a file, named from what its content was read as (never from its name).

Photos: Pillow's format. Audio and video: the demuxer ffmpeg chose and, for the ISO base media
family (one demuxer for MOV, MP4, 3GP…), the file's major brand. A container this table does not
know has no type (None) rather than a guess.
"""

from __future__ import annotations

__all__ = ["media_type"]

_PHOTO = {
    "jpeg": "image/jpeg", "mpo": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
    "tiff": "image/tiff", "bmp": "image/bmp", "avif": "image/avif", "heif": "image/heif",
}  # fmt: skip
_DEMUXER = {
    "matroska,webm": "video/x-matroska", "avi": "video/x-msvideo", "mpeg": "video/mpeg", "mpegts": "video/mp2t",
    "flv": "video/x-flv", "asf": "video/x-ms-asf", "ogg": "video/ogg", "mxf": "application/mxf",
    "gif": "image/gif", "mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac", "aac": "audio/aac",
    "jpegxl_pipe": "image/jxl", "png_pipe": "image/png", "jpeg_pipe": "image/jpeg", "webp_pipe": "image/webp",
}  # fmt: skip
_ISO_BMFF = "mov,mp4,m4a,3gp,3g2,mj2"
_BRANDS = {"qt": "video/quicktime", "3gp": "video/3gpp", "3g2": "video/3gpp2", "m4v": "video/x-m4v",
           "m4a": "audio/mp4", "heic": "image/heic", "heix": "image/heic", "mif1": "image/heif",
           "avif": "image/avif"}  # fmt: skip


def media_type(container: str, *, brand: str = "", has_video: bool = True) -> str | None:
    """The MIME type for a file read as ``container`` (a Pillow format or an ffmpeg demuxer name);
    ``brand``: the ISO file's major brand; ``has_video``: False for sound only (``audio/mp4``)."""
    container, brand = container.lower(), brand.strip().lower()
    if container in _PHOTO:
        return _PHOTO[container]
    if container == _ISO_BMFF:
        for prefix, mime in _BRANDS.items():
            if brand.startswith(prefix):
                return mime
        return "video/mp4" if has_video else "audio/mp4"
    return _DEMUXER.get(container)
