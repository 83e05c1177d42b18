"""Which scales do the iterations code? PSNR and residual energy per Haar octave, per iteration.

    python experiments/residual_octaves.py WEIGHTS [WEIGHTS ...] [--data TRAIN_FOLDER] [--iterations 16]
        [--json OUT.json]

On the validation split's central 256² crops of TRAIN_FOLDER (default $RNNCODEC_DATA/train; never Kodak), runs the codec for
each weights file (a block stage file: its network, then the stage; PyTorch engine) and prints, after each iteration t, the mean PSNR (8-bit RGB) and the share of
the image's energy in each Haar octave that the reconstruction has removed from the residual:
1 − E_band(x − x̂_t) / E_band(x). "finest" is the first octave (detail at full resolution),
"approx" what is left at 1/16. An orthonormal Haar transform splits the energy exactly, so the
bands add up to the whole residual.
"""

import json
from pathlib import Path

import numpy as np
import torch

from rnncodec.image_folders import weights_on_validation_parser
from rnncodec.data import is_validation, list_images, load_rgb, validation_crops
from rnncodec.metrics import batch_psnr, haar_octave_energies
from rnncodec.model import load_model

BANDS = ("finest", "2nd", "3rd", "4th", "approx")


def reconstructions(model, x: torch.Tensor, iterations: int):
    """Yield x̂_1 … x̂_iterations of a batch, as the decoder computes them from the encoder's bits."""
    per_image = []
    for image in x.numpy():
        codes = np.concatenate(list(model.encode_bits(image[None], iterations))) > 0
        per_image.append([recon for recon, _ in model.reconstructions(codes)])
    for recons in zip(*per_image):
        yield torch.from_numpy(np.concatenate(recons))


@torch.no_grad()
def measure(weights: str, crops: torch.Tensor, iterations: int) -> list[dict]:
    model = load_model(Path(weights), engine="torch")  # a block stage file runs its network, then the stage
    iterations = min(iterations, model.config.max_iterations)
    psnr = torch.zeros(iterations)
    residual = torch.zeros(iterations, len(BANDS))
    image = torch.zeros(len(BANDS))
    for x in crops.split(4):
        image += haar_octave_energies(x)
        for t, recon in enumerate(reconstructions(model, x, iterations)):
            psnr[t] += sum(batch_psnr(x, recon))
            residual[t] += haar_octave_energies(x - recon)
    removed = 1 - residual / image
    return [{"iteration": t + 1, "psnr": round(float(psnr[t]) / len(crops), 3),
             "removed": {b: round(float(removed[t, i]), 4) for i, b in enumerate(BANDS)}} for t in range(iterations)]


def main():
    ap = weights_on_validation_parser(__doc__, several=True)
    ap.add_argument("--iterations", type=int, default=16)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    crops = validation_crops([load_rgb(p) for p in list_images(args.data) if is_validation(p)])
    results = {}
    for weights in args.weights:
        rows = results[weights] = measure(weights, crops, args.iterations)
        print(f"\n{weights}: {len(crops)} validation crops, share of each octave's energy removed")
        print("| iteration | PSNR dB | " + " | ".join(BANDS) + " |")
        print("|---:|---:|" + "---:|" * len(BANDS))
        for r in rows:
            print(f"| {r['iteration']} | {r['psnr']:.2f} | " + " | ".join(f"{100 * r['removed'][b]:.1f} %" for b in BANDS) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
