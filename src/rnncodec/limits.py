"""The codec's fixed numbers, each defined once (no imports: the CLI reads them without loading anything)."""

MAX_ITERATIONS = 16  # iteration chunks a file may hold: 16 × 0.125 = 2 bpp before entropy coding
BLOCK = 16  # one code position covers a BLOCK×BLOCK block of pixels (the network downsamples by 2 four times)
DEFAULT_TILE = 1024  # the network runs on square tiles this big: its memory grows with the tile's area
MAX_TILE = 4096  # the largest tile a file may declare
