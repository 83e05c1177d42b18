"""rnncodec encode / decode / info: arguments and messages over rnncodec.api."""

from __future__ import annotations

from pathlib import Path

import click

from ..limits import MAX_ITERATIONS
from .io import (STDIO, ProgressBar, check_output, default_output, errors_about, force_option, input_argument, intact_hint,
                 model_option, output_option, read_input, warnings_to_stderr, write_output)


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


@click.command()
@input_argument
@output_option
@click.option("-q", "--iterations", type=click.IntRange(1, MAX_ITERATIONS), default=8, show_default=True,
              help="Iterations to code: 0.125 bpp each before entropy coding.")
@force_option
@model_option
def encode(input, output, iterations, force, model):
    """Compress image IN (or - for stdin) into an .rgc file."""
    from ..api import Codec

    output = output or default_output(input, ".rgc")
    check_output(output, input, force)
    data = read_input(input)
    with errors_about(input), warnings_to_stderr(input), ProgressBar("encoding") as bar:
        rgc = Codec(model).encode(data, iterations, progress=bar)
    write_output(output, rgc)


@click.command()
@input_argument
@output_option
@click.option("-n", "--iterations", type=click.IntRange(1, MAX_ITERATIONS), help="Decode only the first N iterations.")
@click.option("--salvage", is_flag=True, help="Decode the intact iterations of a damaged file (with a warning) instead of refusing it.")
@force_option
@model_option
def decode(input, output, iterations, salvage, force, model):
    """Decompress .rgc file IN (or - for stdin) into an image (PNG unless OUT says otherwise)."""
    from ..api import Codec
    from ..images import encode_output

    output = output or default_output(input, ".png")
    fmt = output_format(output)
    check_output(output, input, force)
    data = read_input(input)
    with errors_about(input), warnings_to_stderr(input), ProgressBar("decoding") as bar:
        image = Codec(model).decode(data, iterations, salvage=salvage, progress=bar)
    with errors_about(output):
        image_bytes = encode_output(image, fmt)
    write_output(output, image_bytes)


@click.command()
@input_argument
def info(input):
    """Show the header and per-iteration sizes of .rgc file IN (and its damage, if any)."""
    from ..api import info as file_info

    with errors_about(input):
        about = file_info(read_input(input))
    click.echo("\n".join(info_lines(input, about)))
    if about.damage is not None:
        raise click.ClickException(f"{input}: {about.damage}{intact_hint(len(about.chunks))}")


def info_lines(name: str, about) -> list[str]:
    header = about.header
    shipped = f" ({about.model.file})" if about.model else " (not carried by this release)"
    lines = [
        f"file:        {name} ({about.size} bytes, {about.bpp:.4f} bpp, format version {header.version})",
        f"image:       {header.width}×{header.height} {header.mode}",
        f"iterations:  {header.iterations} (nominal {about.nominal_bpp:.3f} bpp)",
        f"codes:       {header.code_channels} channels × {header.code_shape[1]}×{header.code_shape[2]} blocks, {header.raw_code_bytes} raw bytes per iteration",
        f"padding:     {header.pad_right} right, {header.pad_bottom} bottom; tile {header.tile}",
        f"model id:    {header.model_id.hex()}{shipped}",
        f"coder id:    {header.coder_id}",
        "iteration   bytes   mode   cumulative bpp",
    ]
    if about.alpha_bytes is not None:
        lines.append(f"alpha     {about.alpha_bytes:7d}   zlib")
    for chunk in about.chunks:
        lines.append(f"{chunk.index:9d} {chunk.bytes:7d}   {'coded' if chunk.coded else 'raw  '}  {chunk.bpp:.4f}")
    if about.truncated:
        lines.append(f"(truncated: {len(about.chunks)} of {header.iterations} iterations present)")
    return lines
