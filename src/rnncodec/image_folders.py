"""The image folders benchmarks read: given on the command line, else under $RNNCODEC_DATA.

RNNCODEC_DATA names a folder that holds train/ (the training photos; the benchmarks that say
"validation" use its held-out split) and kodak/ (the 24 Kodak images, for evaluation only).
"""

import argparse
import os
from pathlib import Path


def add_image_folder(parser: argparse.ArgumentParser, name: str, subfolder: str, what: str) -> None:
    """An image-folder argument, optional when RNNCODEC_DATA is set (then $RNNCODEC_DATA/SUBFOLDER)."""
    root = os.environ.get("RNNCODEC_DATA")
    default = Path(root) / subfolder if root else None
    help = f"{what} (default: $RNNCODEC_DATA/{subfolder})"
    if name.startswith("-"):
        parser.add_argument(name, type=Path, default=default, required=default is None, help=help)
    else:
        parser.add_argument(name, type=Path, default=default, nargs="?" if default else None, help=help)


def weights_on_validation_parser(doc: str, several: bool = False) -> argparse.ArgumentParser:
    """The command line of a measurement on the validation split: the description (``doc``'s first
    line), WEIGHTS (one network weights file, or ``several``) and --data (the training folder)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("weights", nargs="+" if several else None, help="network weights file" + ("s" if several else ""))
    add_image_folder(parser, "--data", "train", "training images (their validation split is used)")
    return parser
