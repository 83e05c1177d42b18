"""rnncodec: a learned progressive image codec (GDN + convolutional LSTM, Islam et al. 2021).

    import rnncodec
    data = rnncodec.encode("photo.png", iterations=8)   # .rgc bytes
    image = rnncodec.decode(data)                       # a Pillow image

Importing the package registers the .rgc format with Pillow; the public names below are imported
when first used, so ``import rnncodec`` does not import PyTorch.
"""

from importlib import import_module

from . import pillow  # noqa: F401  (registers the Pillow plugin; imports PIL only)

__version__ = "0.1.0"

_PUBLIC = {
    "api": ["encode", "decode", "decode_iterations", "psnr_per_iteration", "info", "models", "Codec", "FileInfo",
            "IterationInfo"],
    "errors": ["RnncodecError", "FormatError", "DamageError", "UnknownModelError", "ImageError", "TargetError",
               "WeightsError", "UnreadableFileError", "MissingFileError", "RnncodecWarning"],
    "config": ["ModelConfig"],
    "model": ["load_model", "Model"],
    "network": ["Network", "RNNCodec"],
    "weights": ["load_network", "save_weights"],
}
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}
__all__ = [*_HOME, "__version__"]


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'rnncodec' has no attribute {name!r}")
    value = getattr(import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
