"""rnncodec encode / decode / info: arguments and messages over rnncodec.api."""

from __future__ import annotations

from pathlib import Path

import click

from ..limits import BLOCK, DEFAULT_ITERATIONS, DEFAULT_TILE, MAX_ITERATIONS, MAX_TILE
from ..wording import count
from . import batch
from .io import (STDIO, effort_option, errors_about, exclusive, force_option, input_argument, inputs_argument, intact_hint, label,
                 model_option, output_option, quiet_option, read_input, threads_option, tune_option, verbose_option,
                 warnings_to_stderr)


class Iterations(click.ParamType):
    """An iteration count, 1 to MAX_ITERATIONS; out of range, the message says what the count is (``hint``: what
    to use instead of a large number)."""

    name = "N"

    def __init__(self, hint: str = ""):
        self.hint = hint

    def convert(self, value, param, ctx) -> int:
        if isinstance(value, int):
            return value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is not a whole number: {self.allowed()}", param, ctx)
        if not 1 <= number <= MAX_ITERATIONS:
            self.fail(f"{value} is not an iteration count: {self.allowed()}{self.hint if number > MAX_ITERATIONS else ''}",
                      param, ctx)
        return number

    def allowed(self) -> str:
        return f"it counts iterations, 1–{MAX_ITERATIONS} (0.125 bpp each before entropy coding)"


class TileSide(click.ParamType):
    """A tile side: a multiple of BLOCK from BLOCK to MAX_TILE."""

    name = "PIXELS"

    def convert(self, value, param, ctx) -> int:
        text = str(value)
        if not text.isdigit() or int(text) % BLOCK or not BLOCK <= int(text) <= MAX_TILE:
            self.fail(f"{value!r} is not a tile side: a multiple of {BLOCK} from {BLOCK} to {MAX_TILE}", param, ctx)
        return int(text)


ENCODE_ITERATIONS = Iterations("; a quality in percent, as cwebp -q takes, is not supported: for a smaller or better "
                               "file give a target, --size BYTES, --bpp X or --psnr DB")


def no_encode_quality(ctx, param, value) -> None:
    """encode --quality: refused with what to give instead (decode's --quality is for JPEG, WebP and AVIF outputs)."""
    if value is not None:
        raise click.UsageError(f"encode has no --quality ({value}): -q counts iterations, 1–{MAX_ITERATIONS}; "
                               "for a size or quality target give --size BYTES, --bpp X or --psnr DB", ctx)


FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
FORMAT_NAMES = {"WEBP": "WebP"}  # as people write them, where Pillow's name differs
FORMAT_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "AVIF": ".avif", "BMP": ".bmp"}


def format_option_value(ctx, param, value: str | None) -> str | None:
    """--format's value as a Pillow format name that can be written: 'jpg' → 'JPEG'."""
    from PIL import Image

    if value is None:
        return None
    fmt = FORMAT_ALIASES.get(value.upper(), value.upper())
    Image.preinit()  # PNG, JPEG, BMP, GIF, PPM: all plugins only for another format
    if fmt not in Image.SAVE:
        Image.init()
    if fmt not in Image.SAVE or fmt == "RGC":
        raise click.BadParameter(f"{value} is not an image format rnncodec can write here "
                                 f"(png, jpeg, webp, tiff, avif, bmp …)")
    return fmt


def format_extension(fmt: str) -> str:
    """The extension an output in a Pillow format gets: '.jpg' for JPEG."""
    from PIL import Image

    return FORMAT_EXTENSIONS.get(fmt) or min((e for e, f in Image.EXTENSION.items() if f == fmt), key=len)


def extension_format(suffix: str) -> str | None:
    """The Pillow format of a file extension ('.jpg' → 'JPEG'), None if Pillow knows none. Like
    Pillow's own open and save, it imports every plugin only for an extension the common ones lack."""
    from PIL import Image

    Image.preinit()
    if suffix not in Image.EXTENSION:
        Image.init()
    return Image.EXTENSION.get(suffix)


def output_format(name: str, fmt: str | None = None) -> str:
    """Pillow format for an output name: ``fmt`` if given (an output name's known extension must
    agree with it), else from the name's extension; PNG for stdout."""
    named = None if name == STDIO else extension_format(Path(name).suffix.lower())
    if fmt is not None:
        if named is not None and named != fmt:
            raise click.ClickException(f"{name}: --format {fmt.lower()} would write {fmt} into a {named} name "
                                       f"(name it {Path(name).stem}{format_extension(fmt)}, or leave out --format)")
        return fmt
    if name == STDIO:
        return "PNG"
    if named is None:
        raise click.ClickException(f"{name}: unknown image extension (use .png, .jpg, .webp, .tif, .avif, .bmp …, "
                                   "or --format)")
    return named


def check_decode_output(job: batch.Job, data: bytes, fmt: str, quality: int | None) -> None:
    """Refuse, before decoding, an output format that cannot hold the file's image or take --quality."""
    from PIL import Image

    from ..api import header_of
    from ..images import LOSSY_FORMATS, encode_output

    with errors_about(label(job.input)):
        header = header_of(data)
    if quality is not None and fmt not in LOSSY_FORMATS:
        raise click.ClickException(f"{label(job.output)}: --quality {quality} applies to JPEG, WebP and AVIF "
                                   f"outputs only, not to {fmt}")
    if fmt == "JPEG" and header.has_alpha:
        raise click.ClickException(f"{label(job.output)}: JPEG has no alpha channel, and {label(job.input)} is "
                                   f"{header.mode}: write .png, .webp or .tif instead")
    with errors_about(label(job.output)):
        encode_output(Image.new(header.mode, (1, 1)), fmt, quality)  # what Pillow refuses, refused now


def metadata_option_value(ctx, param, value: str) -> str:
    """--metadata as given, once the API's rule accepts it (exit 2 naming what is allowed otherwise)."""
    from ..api import metadata_kept

    try:
        metadata_kept(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    return value


@click.command()
@inputs_argument
@output_option
@click.option("-q", "--iterations", type=ENCODE_ITERATIONS,
              help=f"Iterations to code, 1–{MAX_ITERATIONS} (default {DEFAULT_ITERATIONS}): 0.125 bpp each before entropy coding.")
@click.option("--size", type=click.IntRange(min=1), metavar="BYTES",
              help="The largest file of at most BYTES bytes (the most iterations that fit).")
@click.option("--bpp", type=click.FloatRange(min=0, min_open=True), metavar="X", help="The same budget in bits per pixel.")
@click.option("--psnr", type=click.FloatRange(min=0, min_open=True), metavar="DB",
              help="The fewest iterations whose picture reaches DB dB PSNR (all, with a warning, if none does).")
@click.option("--metadata", default="icc", show_default=True, metavar="WHAT", callback=metadata_option_value,
              help="What of the input's metadata to keep: all, none, or a list of icc,exif,xmp "
                   "(EXIF without its orientation: the pixels are coded upright).")
@click.option("--tile", type=TileSide(), default=DEFAULT_TILE, show_default=True,
              help=f"Side of the square tiles the network runs on, a multiple of {BLOCK}: its memory grows with the "
                   "tile's area (a 512 tile needs under half of a 768 one's), and each tile edge inside "
                   "the image is a seam. The file records it; decoding uses it.")
@tune_option
@effort_option
@force_option
@click.option("--quality", hidden=True, expose_value=False, callback=no_encode_quality)
@verbose_option
@quiet_option
@threads_option
@model_option
def encode(inputs, output, iterations, size, bpp, psnr, metadata, tile, tune, effort, force, verbose, quiet, model):
    """Compress images IN (or - for stdin) into .rgc files, each beside its image unless -o.

    Give the iterations (-q) or one target: --size, --bpp or --psnr. A target encodes all 16
    iterations once and keeps as many as it asks for.
    """
    exclusive(**{"-q": iterations, "--size": size, "--bpp": bpp, "--psnr": psnr})
    from ..api import Codec

    codec = Codec(model, tile=tile, tune=tune, effort=effort)

    def work(job: batch.Job, progress) -> tuple[bytes, batch.Result]:
        image = read_input(job.input)
        rgc = codec.encode_file(image, iterations, size=size, bpp=bpp, psnr=psnr, metadata=metadata, progress=progress)
        return rgc.data, batch.Result(len(image), len(rgc.data), rgc.iterations, rgc.bpp, rgc.pixels)

    batch.run(batch.plan(inputs, output, ".rgc"), work, force=force, verbose=verbose, doing="encoding", done_verb="encoded",
              quiet=quiet)


@click.command()
@inputs_argument
@output_option
@click.option("-n", "--iterations", type=Iterations(), help=f"Decode only the first N iterations (1–{MAX_ITERATIONS}).")
@click.option("--size", type=click.IntRange(min=1), metavar="BYTES",
              help="Decode the complete iterations among the file's first BYTES bytes, as a partial download holds them.")
@click.option("--bpp", type=click.FloatRange(min=0, min_open=True), metavar="X",
              help="The same, for the first X bits per pixel of the file.")
@click.option("--salvage", is_flag=True, help="Decode the intact iterations of a damaged file (with a warning) instead of refusing it.")
@click.option("--format", "fmt", metavar="FMT", callback=format_option_value,
              help="Output format: png, jpeg, webp, tiff, avif, bmp … (default: from OUT's extension; PNG for stdout).")
@click.option("--quality", type=click.IntRange(1, 100), metavar="Q",
              help="Quality 1–100 of JPEG, WebP and AVIF outputs (default 95; -v says which one each file got).")
@force_option
@verbose_option
@quiet_option
@threads_option
@model_option
def decode(inputs, output, iterations, size, bpp, salvage, fmt, quality, force, verbose, quiet, model):
    """Decompress .rgc files IN (or - for stdin) into images: PNG beside each, unless -o or --format
    says otherwise.

    --size and --bpp decode what the first BYTES bytes (or X bits per pixel) of a file hold, as a
    client that has downloaded only that much would. JPEG, WebP and AVIF outputs are written at
    --quality (default 95). An output format that cannot hold a file's image (JPEG and an alpha
    channel) is refused before anything is decoded.
    """
    exclusive(**{"-n": iterations, "--size": size, "--bpp": bpp})
    from ..api import Codec
    from ..images import DEFAULT_QUALITY, LOSSY_FORMATS, encode_output

    codec = Codec(model)
    stdin = {}  # stdin's bytes, read once by the check before the decode

    def check(job: batch.Job) -> None:
        fmt_out = output_format(job.output, fmt)
        data = read_input(job.input)
        if job.input == STDIO:
            stdin[STDIO] = data  # read once
        check_decode_output(job, data, fmt_out, quality)

    def work(job: batch.Job, progress) -> tuple[bytes, batch.Result]:
        data = stdin.pop(STDIO) if job.input == STDIO else read_input(job.input)
        decoded = codec.decode_file(data, iterations, size=size, bpp=bpp, salvage=salvage, progress=progress)
        fmt_out = output_format(job.output, fmt)
        with errors_about(label(job.output)):
            image_bytes = encode_output(decoded.image, fmt_out, quality)
        lossy = fmt_out in LOSSY_FORMATS
        note = f"{FORMAT_NAMES.get(fmt_out, fmt_out)} quality {quality or DEFAULT_QUALITY}" if lossy else ""
        pixels = decoded.image.width * decoded.image.height
        return image_bytes, batch.Result(len(data), len(image_bytes), decoded.iterations, decoded.bpp, pixels, note)

    suffix = ".png" if fmt is None else format_extension(fmt)
    batch.run(batch.plan(inputs, output, suffix), work, force=force, verbose=verbose, doing="decoding", done_verb="decoded",
              check=check, quiet=quiet)


@click.command()
@input_argument
@click.option("--original", metavar="IMG", help="The image the file was made from: adds each iteration's PSNR (decodes the file).")
@quiet_option
@threads_option
@model_option
def info(input, original, quiet, model):
    """Show the header and per-iteration sizes of .rgc file IN (and its damage, if any)."""
    from ..api import info as file_info

    data = read_input(input)
    with errors_about(input):
        about = file_info(data)
    psnrs = None if original is None or about.damage is not None else iteration_psnrs(input, data, original, model, quiet)
    click.echo("\n".join(info_lines(input, about, psnrs)))
    if about.damage is not None:
        raise click.ClickException(f"{input}: {about.damage}{intact_hint(len(about.chunks))}")


def iteration_psnrs(input: str, data: bytes, original: str, model: str | None, quiet: bool) -> list[float]:
    from ..api import Codec, to_picture

    with errors_about(original), warnings_to_stderr(original, quiet):
        reference = to_picture(read_input(original))
    with errors_about(input), warnings_to_stderr(input, quiet):
        return Codec(model).psnr_per_iteration(data, reference)


def info_lines(name: str, about, psnrs: list[float] | None = None) -> list[str]:
    header = about.header
    shipped = f" ({about.model.file})" if about.model else " (not carried by this release)"
    lines = [
        f"file:        {name} ({about.size} bytes, {about.bpp:.4f} bpp, format version {header.version})",
        f"image:       {header.width}×{header.height} {header.mode}",
        f"iterations:  {header.iterations} (nominal {about.nominal_bpp:.3f} bpp)",
        f"codes:       {header.code_channels} channels × {header.code_shape[1]}×{header.code_shape[2]} blocks, {header.raw_code_bytes} raw bytes per iteration",
        f"padding:     {header.pad_right} right, {header.pad_bottom} bottom; tile {header.tile}",
        f"model id:    {header.model_id.hex()}{shipped}",
        f"coder id:    {header.coder_id}" + {3: " (layered iterations)", 4: " (layered iterations of a ternary stage)"}.get(header.coder_id, ""),
        *([f"file id:     {header.file_id.hex()}"] if header.version >= 3 else []),
        "iteration   bytes   mode   cumulative bpp" + ("   PSNR (dB)" if psnrs else ""),
    ]
    if about.icc_bytes is not None:
        lines.append(f"ICC       {about.icc_bytes:7d}   zlib   (colour profile)")
    if about.metadata_bytes is not None:
        lines.append(f"metadata  {about.metadata_bytes:7d}   zlib   ({', '.join(m.upper() for m in about.metadata)})")
    if about.alpha_bytes is not None:
        lines.append(f"alpha     {about.alpha_bytes:7d}   zlib")
    for i, chunk in enumerate(about.chunks):
        psnr = f"   {psnrs[i]:9.2f}" if psnrs else ""
        lines.append(f"{chunk.index:9d} {chunk.bytes:7d}   {'coded' if chunk.coded else 'raw  '}  {chunk.bpp:.4f}{psnr}")
    if about.truncated:
        lines.append(f"(truncated: {len(about.chunks)} of {count(header.iterations, 'iteration')} present)")
    return lines
