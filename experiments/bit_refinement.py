"""Could the encoder pick better bits for the same decoder? (Encoder-side search, measured.)

    python experiments/bit_refinement.py WEIGHTS [--data TRAIN_DIR] [--images 3]
        [--iterations 8] [--search blocks|adam] [--effort N] [--lr 0.05]

On the validation split's central 256² crops (never Kodak), each iteration's bits are first the
encoder's, then searched for the same decoder, the decoder state advancing with the searched bits
and the next iteration's encoder seeing the new residual:

- ``--search blocks`` (the encoder's ``--effort N``, :func:`rnncodec.engines.search.search_bits`):
  one decoder pass forward and back; N candidates flip the bits the gradient favours below N
  thresholds on the binarizer's pre-activations; each 16×16 block keeps its closest candidate;
  the best of all that (the encoder's bits included) kept. Costs one backward and N + 1 forwards.
- ``--search adam``: N Adam steps on the binarizer's pre-activations at ``--lr``, the bits their
  sign (straight-through gradient), the bits before each step and after the last scored and the
  best kept. Costs N backwards and N + 1 forwards.

Prints the mean PSNR per iteration with the encoder's bits and searched, and the share of bits the
search flipped. A large gain that persists to the last iteration would mean the encoder, not the
decoder, limits quality.
"""

from statistics import mean

import torch

from rnncodec.data import is_validation, list_images, load_rgb, validation_crops
from rnncodec.engines.search import search_bits
from rnncodec.engines.torch import TorchEngine
from rnncodec.image_folders import weights_on_validation_parser
from rnncodec.metrics import batch_psnr
from rnncodec.weights import load_network

SIZE = 256


def sign(a: torch.Tensor) -> torch.Tensor:
    return torch.where(a >= 0, 1.0, -1.0)


def adam_search(model, target, t, state, activations, steps: int, lr: float) -> torch.Tensor:
    """Adam on the pre-activations through the decoder (straight-through sign); the best bits scored, per image."""

    def errors(bits):
        delta, _ = model.decode_step(bits, t, state)
        return (target - delta).pow(2).mean(dim=(1, 2, 3))

    pre = activations.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([pre], lr=lr)
    best, best_error = sign(activations), None
    for step in range(steps + 1):
        soft = torch.tanh(pre)
        with torch.enable_grad():
            error = errors(soft + (sign(pre) - soft).detach())  # the value of the bits, the gradient of their tanh
        bits = sign(pre.detach())
        better = torch.ones_like(error, dtype=torch.bool) if best_error is None else error.detach() < best_error
        best = torch.where(better[:, None, None, None], bits, best)
        best_error = error.detach() if best_error is None else torch.minimum(error.detach(), best_error)
        if step < steps:
            optimizer.zero_grad()
            error.sum().backward()
            optimizer.step()
    return best


def main():
    parser = weights_on_validation_parser(__doc__)
    parser.add_argument("--images", type=int, default=3, help="validation crops to use (the first N)")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--search", choices=["blocks", "adam"], default="blocks")
    parser.add_argument("--effort", type=int, default=4, help="candidates (blocks) or Adam steps (adam)")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam's step (adam)")
    args = parser.parse_args()
    paths = [p for p in list_images(args.data) if is_validation(p)]
    x = validation_crops([load_rgb(p) for p in paths], SIZE)[: args.images]
    model = load_network(args.weights).eval().requires_grad_(False)
    engine = TorchEngine(model)

    with torch.no_grad():
        plain = [mean(batch_psnr(x, recon)) for _, recon in model.iterate(x, args.iterations)]
    refined, flipped = [], []
    recon, enc_state, dec_state = torch.zeros_like(x), None, None
    for t in range(1, args.iterations + 1):
        with torch.no_grad():
            activations, enc_state = model.encoder_activations(x - recon, t, enc_state)
        target = x - model.cfg.gamma * recon
        if args.search == "adam":
            bits = adam_search(model, target, t, dec_state, activations, args.effort, args.lr)
        else:
            bits = torch.from_numpy(search_bits(engine, target.numpy(), t, dec_state, activations.numpy(), args.effort)[0])
        with torch.no_grad():
            delta, dec_state = model.decode_step(bits, t, dec_state)
            recon = delta + model.cfg.gamma * recon
        refined.append(mean(batch_psnr(x, recon)))
        flipped.append((bits != sign(activations)).float().mean().item())

    how = f"{args.effort} Adam steps, lr {args.lr}" if args.search == "adam" else f"{args.effort} candidates per block"
    print(f"{len(x)} validation crops, {how}, per iteration")
    print("| iteration | encoder's bits PSNR | searched PSNR | gain (dB) | bits flipped |")
    print("|---:|---:|---:|---:|---:|")
    for t, (a, b, f) in enumerate(zip(plain, refined, flipped), start=1):
        print(f"| {t} | {a:.2f} | {b:.2f} | {b - a:+.2f} | {100 * f:.1f} % |")


if __name__ == "__main__":
    main()
