"""PyTorch → ONNX: the encoder and decoder steps as graphs for :mod:`rnncodec.engines.onnx`.

Each graph is one iteration with its recurrent state as explicit inputs and outputs and the
iteration number t as an input (the learned gain and the tail conditioning are looked up by t),
so one graph serves every iteration after the first; the first iteration's graph ("-first") has no
state inputs, as the model runs no hidden convolutions then. The graphs compute the model's
function in the form :func:`graph_form` sets, which ONNX Runtime runs with fewer operations.

The graphs hold no weights: every parameter is an initializer named as in the network's state dict
whose data is "external", and the runtime binds a weights file's tensors to them at load. A graph
therefore depends on the model config and code only, serves every weights file of its config, and
the weights are stored once, in the safetensors file.

    python -m rnncodec.export [WEIGHTS]   # writes WEIGHTS' graphs next to it (the default's network by default)

It also writes the graphs of the encoder's bit search (``SEARCH_GRAPHS``: the binarizer's
pre-activations, and a decoder step with the gradient of its error, :mod:`rnncodec.decoder_gradient`).
"""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path

COMMAND = "python -m rnncodec.export"

try:
    import torch
    import torch.nn as nn
except ModuleNotFoundError as missing:  # `python -m rnncodec.export` in an install without the train extra
    if __name__ != "__main__":
        raise
    from .wording import needs_train_extra

    sys.exit(f"rnncodec: error: {needs_train_extra(COMMAND, missing) or missing}")

from .config import ModelConfig
from .files import atomic_write
from .decoder_gradient import decode_with_gradient
from .layers import ConvLSTMCell
from .network import Network
from .graphs import BOUND_AT_LOAD, GRAPH_FORMAT, GRAPHS, SEARCH_GRAPHS, graph_paths, side_of, step_parameters, step_signature
from .weights import read_parameters

OPSET = 17


def paired(flat):
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def flattened(pairs):
    return [tensor for pair in pairs for tensor in pair]


class Step(nn.Module):
    """One iteration's step of ``model``, its recurrent state flattened into tensors (h, c of each cell)."""

    def __init__(self, model: Network):
        super().__init__()
        self.model = model


class EncoderActivationsStep(Step):
    """(residual, t, h/c of each encoder cell) → (the binarizer's pre-activations, whose sign is the bits, new h/c)."""

    def forward(self, residual, t, *state):
        activations, new_state = self.model.encoder_activations(residual, t, paired(state) if state else None)
        return (activations, *flattened(new_state))


class EncoderStep(EncoderActivationsStep):
    """(residual, t, h/c of each encoder cell) → (bits in ±1, new h/c): :meth:`Network.encode_step` at inference."""

    def forward(self, residual, t, *state):
        activations, *new_state = super().forward(residual, t, *state)
        y = torch.tanh(activations)
        return (torch.where(y >= 0, 1.0, -1.0), *new_state)


class DecoderStep(Step):
    """(bits in ±1, t, h/c of each decoder cell) → (Dec_t(bits), new h/c): :meth:`Network.decode_step`."""

    def forward(self, bits, t, *state):
        out, new_state = self.model.decode_step(bits, t, paired(state) if state else None)
        return (out, *flattened(new_state))


class DecoderGradientStep(Step):
    """(bits in ±1, t, target, h/c of each decoder cell) → (Dec_t(bits), the gradient with respect to the
    bits of the mean squared error against the target, new h/c): :func:`decode_with_gradient`."""

    def forward(self, bits, t, target, *state):
        delta, new_state, _, gradient = decode_with_gradient(self.model, bits, t, paired(state) if state else None, target)
        return (delta, gradient, *flattened(new_state))


STEPS = {"encoder": EncoderStep, "decoder": DecoderStep,
         "encoder-activations": EncoderActivationsStep, "decoder-gradient": DecoderGradientStep}
EXAMPLE_SIZE = 64  # the image side of the example inputs the graphs are traced with (any multiple of 16)


def dynamic_axes(name: str, scale: int) -> dict[int, str]:
    suffix = "" if scale == 1 else f"/{scale}"
    return {2: f"height{suffix}", 3: f"width{suffix}"}


def graph_form(model: Network) -> Network:
    """``model`` set to compute in the form the graphs take, which ONNX Runtime runs faster: its
    ConvLSTM cells gate by gate, to_rgb before the last depth-to-space (the same function)."""
    for module in model.modules():
        if isinstance(module, ConvLSTMCell):
            module.gate_by_gate = True
    model.decoder.rgb_before_depth_to_space = True
    return model


def placeholder_network(cfg: ModelConfig) -> Network:
    """A model of the config with a distinct random value in every parameter: the exporter merges
    parameters of equal value into one, which would make a graph depend on the weights."""
    model = Network(cfg).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.copy_(torch.randn(tensor.shape, generator=generator))
    return model


def export_step(cfg: ModelConfig, graph: str) -> bytes:
    """The ONNX graph (bytes) of one encoder or decoder step of a config's model (``graph``: one of
    GRAPHS or SEARCH_GRAPHS); it holds no weights: the runtime binds a weights file's parameters to it at load."""
    import onnx

    model = graph_form(placeholder_network(cfg))
    side = side_of(graph)[0]
    inputs, outputs = step_signature(model.cfg, graph)
    size = EXAMPLE_SIZE
    args = [torch.zeros(1, c, size // s, size // s) for _, c, s in inputs]
    args.insert(1, torch.tensor(1))  # t
    names = [inputs[0][0], "t", *(n for n, _, _ in inputs[1:])]
    dynamic = {n: dynamic_axes(n, s) for n, _, s in inputs + outputs}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        # the step module starts in eval mode: export restores the mode it found, all the way down to the model
        torch.onnx.export(STEPS[side](model).eval(), tuple(args), buffer, dynamo=False, opset_version=OPSET,
                          input_names=names, output_names=[n for n, _, _ in outputs], dynamic_axes=dynamic,
                          do_constant_folding=False)  # keeps each parameter an initializer of its own name
    proto = onnx.load_from_string(buffer.getvalue())
    declare_gate_sum_shapes(proto, inputs)
    unbound = unbind_parameters(proto, model.state_dict())
    expected = set(step_parameters(model.state_dict(), graph))
    if unbound != expected:
        raise RuntimeError(f"the {graph} graph's parameters are not those the runtime binds: {sorted(unbound ^ expected)}")
    proto.metadata_props.add(key="format", value=GRAPH_FORMAT)
    proto.metadata_props.add(key="config", value=json.dumps(model.cfg.to_dict()))
    proto.producer_version = ""  # the graph, not the torch release, decides the bytes
    return proto.SerializeToString()


def declare_gate_sum_shapes(graph, inputs: list[tuple[str, int, int]]) -> None:
    """Declare the shape of both convolution outputs that each ConvLSTM gate sums: the shape of the
    cell's state ``h{i}`` (an input of the graph), symbolic sizes that ONNX's shape inference does
    not carry through a strided convolution or depth-to-space. With the two shown equal, ONNX
    Runtime adds one output into the other convolution and applies the gate's activation there,
    instead of running the sum and the activation on their own."""
    import onnx

    states = {name: (channels, scale) for name, channels, scale in inputs}
    made_by = {output: node for node in graph.graph.node for output in node.output}
    for node in graph.graph.node:
        state = "h" + node.name.partition("/cells.")[2].partition("/")[0]  # the node's cell's h input
        if node.op_type != "Add" or state not in states:
            continue
        if all(name in made_by and made_by[name].op_type == "Conv" for name in node.input):
            channels, scale = states[state]
            sizes = dynamic_axes(state, scale)
            for name in node.input:
                graph.graph.value_info.append(onnx.helper.make_tensor_value_info(
                    name, onnx.TensorProto.FLOAT, [1, channels, sizes[2], sizes[3]]))


PREFIX = "model."  # the step modules hold the model under this name


def unbind_parameters(graph, state, prefix: str = PREFIX) -> set[str]:
    """Turn each parameter initializer (``prefix`` + a name in ``state``) into a placeholder of that
    name, its data stored outside.

    The runtime supplies the data from the weights file (ONNX Runtime's external initializers)."""
    import onnx

    unbound = set()
    for init in graph.graph.initializer:
        name = init.name.removeprefix(prefix)
        if not init.name.startswith(prefix) or name not in state:
            continue
        for node in graph.graph.node:
            node.input[:] = [name if i == init.name else i for i in node.input]
        init.name = name
        init.ClearField("raw_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        init.external_data.add(key="location", value=BOUND_AT_LOAD)
        unbound.add(name)
    return unbound


def export_graphs(cfg: ModelConfig, graphs: tuple[str, ...] = GRAPHS) -> dict[str, bytes]:
    """The step graphs (or ``graphs``) of a config's model: {"encoder-first": bytes, "encoder": bytes, …}."""
    return {graph: export_step(cfg, graph) for graph in graphs}


def write_graphs(weights: str | Path, graphs: tuple[str, ...] = GRAPHS) -> list[Path]:
    """Export the step graphs (or ``graphs``) of a network weights file's network and write them next
    to it (a block stage file is refused, naming its network)."""
    exported = export_graphs(read_parameters(weights)[0], graphs)
    paths = graph_paths(Path(weights), graphs)
    for graph, path in paths.items():
        atomic_write(path, lambda tmp, data=exported[graph]: Path(tmp).write_bytes(data))
    return list(paths.values())


def main(argv: list[str] | None = None) -> None:
    from .weights import default_network_path

    args = sys.argv[1:] if argv is None else argv
    for path in write_graphs(Path(args[0]) if args else default_network_path(), GRAPHS + SEARCH_GRAPHS):
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    from .errors import RnncodecError
    from .wording import needs_train_extra

    try:
        main()
    except ModuleNotFoundError as e:  # onnx, imported when first needed
        if needs_train_extra(COMMAND, e) is None:
            raise
        sys.exit(f"rnncodec: error: {needs_train_extra(COMMAND, e)}")
    except RnncodecError as e:
        sys.exit(f"rnncodec: error: {e}")
