"""The codec's fixed numbers and defaults, each defined once (no imports: the CLI reads them without loading anything)."""

# the network and its codes
BLOCK = 16  # one code position covers a BLOCK×BLOCK block of pixels (the network downsamples by 2 four times)
MAX_ITERATIONS = 16  # iteration chunks a file may hold: 16 × 0.125 = 2 bpp before entropy coding
DEFAULT_ITERATIONS = 8  # what encoding codes unless told: 1 bpp before entropy coding
DEFAULT_TILE = 768  # the network runs on square tiles this big: its memory grows with the tile's area
# the encoder's tunes: how strongly a layered file's encoder weighs errors in smooth areas over texture
# (rnncodec.block_stage.masking_weights); any tune's files decode the same way
TUNES = {"psnr": 0.0, "balanced": 0.3, "ssim": 0.75}
DEFAULT_TUNE = "balanced"
# the encoder's bit search (rnncodec.engines.search): sets of flips each network iteration tries (0: the
# encoder's bits); any effort's files decode the same way
DEFAULT_EFFORT = 1

# what a file may declare or carry (docs/format.md)
MAX_TILE = 4096  # the largest tile a file may declare
MAX_SIDE = 1 << 15  # 32768 pixels per side
MAX_PIXELS = 1 << 26  # 67 megapixels (below Pillow's decompression-bomb warning)
MAX_ICC = 1 << 20  # bytes of the largest ICC profile a file may carry
MAX_METADATA = 1 << 22  # bytes a metadata chunk may inflate to
MODEL_ID_BYTES = 8  # a model id: the first bytes of its weights file's SHA-256 when shipped
