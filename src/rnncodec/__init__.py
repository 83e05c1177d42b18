"""rnncodec: a learned progressive image codec (GDN + convolutional LSTM, Islam et al. 2021)."""

from .model import ModelConfig, RNNCodec
from .weights import load_model, save_weights

__version__ = "0.1.0"
__all__ = ["ModelConfig", "RNNCodec", "load_model", "save_weights", "__version__"]
