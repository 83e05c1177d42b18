"""Per-iteration statistics of a model's binarizer and decoder on the validation split (never Kodak).

    python experiments/code_statistics.py WEIGHTS [--data TRAIN_DIR]

For each iteration t: the residual's mean |r| entering the encoder, the binarizer's mean |tanh|,
the share of bits that stochastic binarization would flip against the sign ((1 − |tanh|)/2 on
average), and the mean |Dec_t(b_t)| the decoder adds.
"""

import torch

from rnncodec.data import is_validation, list_images, load_rgb, validation_crops
from rnncodec.weights import load_network

from rnncodec.image_folders import weights_on_validation_parser

ITERATIONS = 8
CROP = 128


@torch.no_grad()
def main():
    parser = weights_on_validation_parser(__doc__)
    args = parser.parse_args()
    x = validation_crops([load_rgb(p) for p in list_images(args.data) if is_validation(p)], CROP)
    model = load_network(args.weights)
    activations = []
    model.binarizer.conv.register_forward_hook(lambda module, inputs, output: activations.append(torch.tanh(output)))
    print(f"{args.weights}: {len(x)} validation crops of {CROP}²")
    print("| iteration | mean abs residual in | mean abs tanh | bits a stochastic binarizer flips | mean abs decoder output |")
    print("|---:|---:|---:|---:|---:|")
    recon = torch.zeros_like(x)
    enc_state = dec_state = None
    for t in range(1, ITERATIONS + 1):
        residual = x - recon
        bits, enc_state = model.encode_step(residual, t, enc_state)
        delta, dec_state = model.decode_step(bits, t, dec_state)
        recon = delta + model.cfg.gamma * recon
        y = activations[-1].abs()
        print(f"| {t} | {residual.abs().mean():.4f} | {y.mean():.3f} | {((1 - y) / 2).mean():.1%} | {delta.abs().mean():.4f} |")


if __name__ == "__main__":
    main()
