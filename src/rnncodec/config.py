"""The network's shape: widths, depth and options, as stored in a weights file (no PyTorch needed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .limits import BLOCK, MAX_ITERATIONS


@dataclass(frozen=True)
class ModelConfig:
    code_channels: int = 32  # bits per BLOCK×BLOCK block per iteration: 32 → 0.125 bpp
    analysis_channels: int = 32  # conv (stride 2) + GDN at 1/2 resolution; thin, since it runs on many pixels
    encoder_hidden: tuple[int, ...] = (64, 128, 256)  # ConvLSTM cells at 1/4, 1/8, 1/16 (each stride 2)
    synthesis_channels: int = 256  # 1×1 conv, then conv + inverse GDN, at 1/16
    decoder_hidden: tuple[int, ...] = (256, 128, 64, 32)  # ConvLSTM at 1/16, 1/8, 1/4, 1/2, each then depth-to-space ×2
    decoder_hidden_kernels: tuple[int, ...] = (3, 1, 1, 1)  # 3×3 recurrence only at 1/16, where pixels are few
    tail_branches: tuple[int, int] = (0, 0)  # hidden width of a feed-forward conv branch beside the 1/4 and 1/2 cells (0: none)
    full_resolution_channels: int = 0  # channels reaching full resolution: the 1/2 branch adds them beyond the cell's (0: the cell's only)
    iteration_conditioning: bool = False  # a per-iteration output bias and scale/shift of the tail cells' inputs
    full_resolution_branch: int = 0  # hidden width of a residual conv branch at full resolution, before to_rgb (0: none)
    gamma: float = 1.0  # x̂_t = Dec_t(b_t) + γ·x̂_{t-1}: 1 additive, 0 one-shot
    learned_gain: bool = True  # learn the per-iteration residual gain g_t (else g_t = 1)
    max_iterations: int = MAX_ITERATIONS  # the most a file may hold

    def __post_init__(self):
        if len(self.encoder_hidden) != 3 or len(self.decoder_hidden) != 4 or len(self.decoder_hidden_kernels) != 4:
            raise ValueError(f"the model has 3 encoder and 4 decoder ConvLSTM cells ({BLOCK}× downsampling)")
        if any(w < 1 for w in (self.code_channels, self.analysis_channels, self.synthesis_channels, *self.encoder_hidden)):
            raise ValueError("layer widths must be positive")
        if any(w < 4 or w % 4 for w in self.decoder_hidden):
            raise ValueError("decoder widths must be multiples of 4 (each cell is followed by depth-to-space ×2)")
        if self.full_resolution_branch < 0:
            raise ValueError("full_resolution_branch: a width ≥ 0")
        if len(self.tail_branches) != 2 or any(w < 0 for w in self.tail_branches):
            raise ValueError("tail_branches: two widths ≥ 0, for the 1/4 and 1/2 cells")
        if self.full_resolution_channels and (self.full_resolution_channels < self.decoder_hidden[-1] // 4 or not self.tail_branches[1]):
            raise ValueError("full_resolution_channels needs a 1/2 branch and at least the last cell's channels / 4")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
