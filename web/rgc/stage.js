// The block stage (rnncodec.block_stage): iterations after the network's K-th refine each 16×16 block
// by a sign-coded transform, basis · (α ⊙ signs) · scale, the scale bit multiplying the block's scale
// by `step` or dividing it. Read from a block stage file: its settings, basis (S, 768, C − 1) and α
// (S, C − 1), stored float32 or float16; S, K and the rest come from the file. A ternary stage
// (settings.dead_zone > 0; entropy coder 4) may send a component as zero: its code NOT_SENT.

import { WeightsError } from "./safetensors.js";

const BLOCK = 16;
const ROW = 3 * BLOCK * BLOCK; // 768 values per block
const f = Math.fround;
export const NOT_SENT = 2; // a ternary stage's code for a component sent as zero (rnncodec.block_stage.NOT_SENT)
const CODE_VALUES = [-1, 1, 0]; // code → the value it sends

export class BlockStage {
  /** `file`: the stage file's SafeTensors. */
  constructor(file) {
    const settings = file.meta("block_stage");
    if (!settings) throw new WeightsError(`${file.name}: bad block stage file: no block_stage settings`);
    this.after = Number(settings.after);
    this.step = Number(settings.step);
    this.exponent = Number(settings.exponent);
    this.center = Number(settings.center);
    this.ternary = Number(settings.dead_zone ?? 0) > 0;
    const basis = file.raw("block_stage.basis"), alpha = file.raw("block_stage.alpha");
    const [levels, rowLength, signBits] = basis.shape;
    const wellFormed = basis.shape.length === 3 && rowLength === ROW && alpha.shape.length === 2
      && alpha.shape[0] === levels && alpha.shape[1] === signBits && this.after >= 1 && this.step > 1
      && Number.isFinite(this.exponent) && Number.isFinite(this.center);
    if (!wellFormed) throw new WeightsError(`${file.name}: bad block stage file: its stage is malformed`);
    this.levels = levels; // S
    this.signBits = signBits; // C − 1
    this.basis = file.float32("block_stage.basis"); // (S, 768, C − 1)
    this.alpha = file.float32("block_stage.alpha"); // (S, C − 1)
    if (!this.basis.every(Number.isFinite) || !this.alpha.every(Number.isFinite)) {
      throw new WeightsError(`${file.name}: bad block stage file: its stage is malformed`);
    }
  }

  /** Each block's start scale from the network's last increment x̂_K − x̂_{K−1}, (3, H, W) float32. */
  startScales(increment, H, W) {
    const h = H / BLOCK, w = W / BLOCK;
    const scales = new Float32Array(h * w);
    for (let by = 0; by < h; by++) {
      for (let bx = 0; bx < w; bx++) {
        let sum = 0;
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < BLOCK; y++) {
            const at = (c * H + by * BLOCK + y) * W + bx * BLOCK;
            for (let x = 0; x < BLOCK; x++) sum += increment[at + x] * increment[at + x];
          }
        }
        const logRms = f(0.5 * Math.log(f(f(sum / ROW) + 1e-8)));
        scales[by * w + bx] = f(Math.exp(f(this.exponent * f(logRms - this.center))));
      }
    }
    return scales;
  }

  /**
   * Refine block `block` of the image `recon` (3, H, W) with one level's codes: `bits(j)` gives code j
   * (0/1, or NOT_SENT) of the block's C codes, the last its scale bit; `level` is the stage level (0-based).
   * Updates scales[block] and adds the increment to recon.
   */
  refine(recon, H, W, scales, block, level, bits) {
    const C1 = this.signBits, w = W / BLOCK;
    const scale = f(bits(C1) ? scales[block] * this.step : scales[block] / this.step);
    scales[block] = scale;
    const coefficients = new Float32Array(C1);
    const alpha = this.alpha.subarray(level * C1, (level + 1) * C1);
    for (let j = 0; j < C1; j++) coefficients[j] = f(f(CODE_VALUES[bits(j)] * alpha[j]) * scale);
    const basis = this.basis.subarray(level * ROW * C1, (level + 1) * ROW * C1);
    const by = Math.floor(block / w), bx = block - by * w;
    for (let k = 0; k < ROW; k++) {
      let sum = 0;
      const row = k * C1;
      for (let j = 0; j < C1; j++) sum += coefficients[j] * basis[row + j];
      const c = (k / 256) | 0, y = ((k >> 4) & 15), x = k & 15;
      const at = (c * H + by * BLOCK + y) * W + bx * BLOCK + x;
      recon[at] = f(recon[at] + f(sum));
    }
  }
}
