"""Could the encoder pick better bits for the same decoder? (Encoder-side search, measured.)

    python experiments/bit_refinement.py WEIGHTS [--data TRAIN_DIR] [--images 3]
        [--iterations 8] [--steps 9] [--lr 0.05]

On the validation split's central 256² crops (never Kodak), each iteration's bits are first the
encoder's, then refined greedily: Adam on the binarizer's pre-activations, the bits their sign
(straight-through gradient), minimising that iteration's squared error through the decoder; the
best bits seen are kept (the encoder's ``--effort`` search, :mod:`rnncodec.engines.search`), the decoder state advances with them, and the next iteration's encoder
sees the new residual. Prints the mean PSNR per iteration with the encoder's bits and refined,
and the share of bits the search flipped. A large gain that persists to the last iteration would
mean the encoder, not the decoder, limits quality.
"""

from statistics import mean

import torch

from rnncodec.engines.search import search_bits
from rnncodec.data import is_validation, list_images, load_rgb, validation_crops
from rnncodec.metrics import batch_psnr
from rnncodec.weights import load_network

from rnncodec.image_folders import weights_on_validation_parser

SIZE = 256


def sign(a: torch.Tensor) -> torch.Tensor:
    return torch.where(a >= 0, 1.0, -1.0)


def main():
    parser = weights_on_validation_parser(__doc__)
    parser.add_argument("--images", type=int, default=3, help="validation crops to use (the first N)")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--steps", type=int, default=9, help="Adam steps per iteration (the bits before each and after the last scored)")
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    paths = [p for p in list_images(args.data) if is_validation(p)]
    x = validation_crops([load_rgb(p) for p in paths], SIZE)[: args.images]
    model = load_network(args.weights).eval().requires_grad_(False)

    with torch.no_grad():
        plain = [mean(batch_psnr(x, recon)) for _, recon in model.iterate(x, args.iterations)]
    refined, flipped = [], []
    recon, enc_state, dec_state = torch.zeros_like(x), None, None
    for t in range(1, args.iterations + 1):
        with torch.no_grad():
            features, enc_state = model.encoder((x - recon) * model.gain(t), enc_state)
            activations = model.binarizer.conv(features)
        bits = search_bits(model, x - model.cfg.gamma * recon, t, dec_state, activations, args.steps, args.lr)
        with torch.no_grad():
            delta, dec_state = model.decode_step(bits, t, dec_state)
            recon = delta + model.cfg.gamma * recon
        refined.append(mean(batch_psnr(x, recon)))
        flipped.append((bits != sign(activations)).float().mean().item())

    print(f"{len(x)} validation crops, {args.steps} Adam steps per iteration, lr {args.lr}")
    print("| iteration | encoder's bits PSNR | refined PSNR | gain (dB) | bits flipped |")
    print("|---:|---:|---:|---:|---:|")
    for t, (a, b, f) in enumerate(zip(plain, refined, flipped), start=1):
        print(f"| {t} | {a:.2f} | {b:.2f} | {b - a:+.2f} | {100 * f:.1f} % |")


if __name__ == "__main__":
    main()
