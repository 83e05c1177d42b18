"""rnncodec encode / decode / info."""

from __future__ import annotations

from pathlib import Path

import click

from ..bitstream import MAX_ITERATIONS

from .io import (STDIO, check_output, default_output, force_option, input_argument, model_option, output_option,
                 progress_bar, read_input, warn, warnings_to_stderr, write_output)
from .main import cli


def load_codec(model: str | None):
    from ..codec import Codec
    from ..weights import WeightsError

    try:
        return Codec.load(model)
    except WeightsError as e:
        raise click.ClickException(str(e)) from None


def output_format(name: str) -> str:
    """Pillow format for an output name: from its extension, PNG for stdout or an unknown one."""
    from PIL import Image

    if name == STDIO:
        return "PNG"
    Image.init()
    fmt = Image.EXTENSION.get(Path(name).suffix.lower())
    if fmt is None:
        raise click.ClickException(f"{name}: unknown image extension (use .png, .jpg, .webp, .bmp, .tif …)")
    return fmt


@cli.command()
@input_argument
@output_option
@click.option("-q", "--iterations", type=click.IntRange(1, MAX_ITERATIONS), default=8, show_default=True,
              help="Iterations to code: 0.125 bpp each before entropy coding.")
@force_option
@model_option
def encode(input, output, iterations, force, model):
    """Compress image IN (or - for stdin) into an .rgc file."""
    from ..images import ImageError, read_picture

    output = output or default_output(input, ".rgc")
    check_output(output, input, force)
    data = read_input(input)
    with warnings_to_stderr():
        try:
            picture = read_picture(data)
        except ImageError as e:
            raise click.ClickException(f"{input}: {e}") from None
    codec = load_codec(model)
    from ..codec import network_steps

    h, w = picture.rgb.shape[:2]
    with progress_bar(network_steps(h, w, iterations, codec.tile), "encoding") as bar:
        rgc = codec.encode(picture, iterations, progress=bar.update)
    write_output(output, rgc)


@cli.command()
@input_argument
@output_option
@click.option("-n", "--iterations", type=click.IntRange(1, MAX_ITERATIONS), help="Decode only the first N iterations.")
@click.option("--salvage", is_flag=True, help="Decode the intact iterations of a damaged file (with a warning) instead of refusing it.")
@force_option
@model_option
def decode(input, output, iterations, salvage, force, model):
    """Decompress .rgc file IN (or - for stdin) into an image (PNG unless OUT says otherwise)."""
    from ..bitstream import DamageError, FormatError, parse_header
    from ..codec import network_steps
    from ..images import ImageError, encode_output

    output = output or default_output(input, ".png")
    fmt = output_format(output)
    check_output(output, input, force)
    data = read_input(input)
    codec = load_codec(model)
    try:
        header = parse_header(data)
        steps = network_steps(header.height, header.width, min(iterations or header.iterations, header.iterations), header.tile)
        with progress_bar(steps, "decoding") as bar:
            decoded = codec.decode(data, iterations, progress=bar.update, salvage=salvage)
    except DamageError as e:
        raise click.ClickException(f"{input}: {e}{intact_hint(e.intact)}") from None
    except FormatError as e:
        raise click.ClickException(f"{input}: {e}") from None
    for message in decoded.warnings:
        warn(f"{input}: {message}")
    try:
        image_bytes = encode_output(decoded.picture, fmt)
    except ImageError as e:
        raise click.ClickException(f"{output}: {e}") from None
    write_output(output, image_bytes)


def intact_hint(intact: int) -> str:
    if not intact:
        return ""
    first = "iteration 1 is" if intact == 1 else f"iterations 1–{intact} are"
    return f"; {first} intact: decode with -n {intact} or --salvage"


@cli.command()
@input_argument
def info(input):
    """Show the header and per-iteration sizes of .rgc file IN (and its damage, if any)."""
    from ..bitstream import HEADER_SIZE, FormatError, parse

    data = read_input(input)
    try:
        contents = parse(data)
    except FormatError as e:
        raise click.ClickException(f"{input}: {e}") from None
    header = contents.header
    pixels = header.width * header.height
    lines = [
        f"file:        {input} ({len(data)} bytes, {len(data) * 8 / pixels:.4f} bpp, format version {header.version})",
        f"image:       {header.width}×{header.height} {header.mode}",
        f"iterations:  {header.iterations} (nominal {header.iterations * header.code_channels / 256:.3f} bpp)",
        f"codes:       {header.code_channels} channels × {header.code_shape[1]}×{header.code_shape[2]} blocks, {header.raw_code_bytes} raw bytes per iteration",
        f"padding:     {header.pad_right} right, {header.pad_bottom} bottom; tile {header.tile}",
        f"model id:    {header.model_id.hex()}",
        f"coder id:    {header.coder_id}",
        "iteration   bytes   mode   cumulative bpp",
    ]
    if contents.alpha_chunk is not None:
        lines.append(f"alpha     {contents.alpha_chunk.end - HEADER_SIZE:7d}   zlib")
    for chunk in contents.iterations:
        lines.append(f"{chunk.index:9d} {chunk.end - chunk.start:7d}   {'coded' if chunk.mode else 'raw  '}  {chunk.end * 8 / pixels:.4f}")
    if contents.truncated:
        lines.append(f"(truncated: {len(contents.iterations)} of {header.iterations} iterations present)")
    click.echo("\n".join(lines))
    if contents.damage is not None:
        raise click.ClickException(f"{input}: {contents.damage.message}{intact_hint(contents.damage.intact)}")
