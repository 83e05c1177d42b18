"""rnncodec: a learned progressive image codec (GDN + convolutional LSTM, Islam et al. 2021).

The PyTorch names below are imported on first use, so encoding and decoding need no PyTorch."""

__version__ = "0.1.0"
__all__ = ["ModelConfig", "RNNCodec", "load_model", "save_weights", "__version__"]

_LAZY = {"ModelConfig": "config", "RNNCodec": "model", "load_model": "weights", "save_weights": "weights"}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
