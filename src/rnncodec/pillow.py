"""The Pillow plugin: ``Image.open("x.rgc")`` and ``im.save("x.rgc", iterations=8)``.

``import rnncodec`` registers it. Opening reads the header (and the ICC profile, into
``info["icc_profile"]``, and the EXIF and XMP, into ``info["exif"]`` and ``info["xmp"]``, if the file
carries them); the pixels are decoded (with the shipped model
the file names) when Pillow first needs them. A truncated file gives its complete
iterations, with a warning. Saving takes ``iterations`` (default 8) or one target, ``size``
(bytes), ``bpp`` or ``psnr`` (as :func:`rnncodec.encode`), ``metadata``, ``model`` (a weights file), ``tile``, ``tune`` and ``effort``;
``quality``, which other formats take, raises ValueError: an .rgc file has iterations, not a quality.
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

from . import bitstream
from .limits import DEFAULT_EFFORT, DEFAULT_TUNE, MAX_ITERATIONS

FORMAT = "RGC"


def _accept(prefix: bytes) -> bool:
    return prefix.startswith(bitstream.MAGIC)


class RgcImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "rnncodec learned progressive image"

    def _open(self) -> None:
        header = bitstream.read_header(self.fp)
        self._size = (header.width, header.height)
        self._mode = header.mode
        self.info.update(iterations=header.iterations, model_id=header.model_id.hex(), coder_id=header.coder_id)
        leading = bitstream.read_leading(header, self.fp)
        if leading.icc is not None:
            self.info["icc_profile"] = leading.icc  # what Pillow writes back when saving PNG, JPEG, WebP …
        self.info.update(leading.metadata or {})  # "exif" and "xmp", likewise
        self.tile = [ImageFile._Tile(FORMAT, (0, 0, *self._size), 0)]


class RgcDecoder(ImageFile.PyDecoder):
    _pulls_fd = True

    def decode(self, buffer) -> tuple[int, int]:
        from .api import decode

        self.set_as_raw(decode(self.fd.read()).tobytes())
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    from .api import encode

    options = im.encoderinfo
    if "quality" in options:
        raise ValueError(f"an .rgc file has no quality (quality={options['quality']!r}): give iterations= (1–{MAX_ITERATIONS}, "
                         "0.125 bpp each before entropy coding), or a target: size= (bytes), bpp= or psnr=")
    fp.write(encode(im, options.get("iterations"), size=options.get("size"), bpp=options.get("bpp"),
                    psnr=options.get("psnr"), metadata=options.get("metadata", "icc"), model=options.get("model"),
                    tile=options.get("tile"), tune=options.get("tune", DEFAULT_TUNE), effort=options.get("effort", DEFAULT_EFFORT)))


def register() -> None:
    Image.register_open(FORMAT, RgcImageFile, _accept)
    Image.register_decoder(FORMAT, RgcDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".rgc")
    Image.register_mime(FORMAT, "image/x-rgc")


register()
