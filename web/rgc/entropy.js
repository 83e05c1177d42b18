// Entropy coder 2: context-adaptive binary range coding of one iteration's codes, a port of
// rnncodec.entropy.GridCoder's decoder (docs/format.md, "Entropy coder 2"). Contexts, counts and
// probabilities are integers, so the bits decoded here are exactly the Python decoder's.

import { DecodeError, SymbolStream } from "./range-coder.js";

export const PARTNERS = 3;
export const CONTEXTS_PER_CHANNEL = 6 * 3 * 3 * 10 * 27; // 14,580
export const COUNT_LIMIT = 1 << 13;
export const RAW = 0, CODED = 1;

/** 0-based iteration index → its context state: 1, 2, 3, 4, 5–8, 9 and later. */
export function iterationState(t) {
  return Math.min(t, 4) + (t >= 8 ? 1 : 0);
}

/** P(1) as k / 2^16 from a context's counts, as rnncodec.entropy.probabilities rounds it. */
export function probabilityK(n0, n1) {
  const k = Math.floor((2 * n1 * 65536 + n0 + n1) / (2 * (n0 + n1)));
  return k < 1 ? 1 : k > 65535 ? 65535 : k;
}

/** Integer counts (n0, n1) per context, updated after each coder call as rnncodec.entropy.update does:
 * every symbol counted, then each context whose sum passed COUNT_LIMIT halved once (rounding up). */
export class Counts {
  constructor(prior) {
    this.n = Int32Array.from(prior); // (contexts, 2) flattened
    this.mark = new Uint8Array(prior.length / 2);
  }

  k(context) {
    return probabilityK(this.n[2 * context], this.n[2 * context + 1]);
  }

  update(contexts, symbols, count) {
    const n = this.n;
    for (let i = 0; i < count; i++) n[2 * contexts[i] + symbols[i]] += 1;
    for (let i = 0; i < count; i++) {
      const c = contexts[i];
      if (!this.mark[c] && n[2 * c] + n[2 * c + 1] > COUNT_LIMIT) {
        this.mark[c] = 1;
        n[2 * c] = (n[2 * c] + 1) >> 1;
        n[2 * c + 1] = (n[2 * c + 1] + 1) >> 1;
      }
    }
    for (let i = 0; i < count; i++) this.mark[contexts[i]] = 0;
  }
}

/** Decode one call: `count` symbols with the probabilities of `contexts` before any of them is counted. */
export function decodeCall(stream, counts, contexts, out, count) {
  const ks = new Int32Array(count);
  for (let i = 0; i < count; i++) ks[i] = counts.k(contexts[i]);
  for (let i = 0; i < count; i++) out[i] = stream.bit(ks[i]);
  counts.update(contexts, out, count);
}

/** The coder tables of a model (rnncodec.entropy.CoderTables): partners (C × 3, −1 none) and the prior
 * counts (C · CONTEXTS_PER_CHANNEL × 2); uniform ones for a model without tables. */
export function uniformTables(channels) {
  return {
    partners: new Int32Array(channels * PARTNERS).fill(-1),
    prior: new Int32Array(channels * CONTEXTS_PER_CHANNEL * 2).fill(1),
  };
}

/** Fewest bytes a range-coded first iteration of this shape can take (rnncodec.entropy.shortest_first_payload). */
export function shortestFirstPayload(tables, channels, h, w) {
  let cheapest = 0;
  for (let c = 0; c < CONTEXTS_PER_CHANNEL; c++) {
    const p = probabilityK(tables.prior[2 * c], tables.prior[2 * c + 1]) / 65536;
    cheapest = Math.max(cheapest, -Math.log2(Math.max(p, 1 - p)));
  }
  return Math.max(0, Math.floor((Math.floor((h * w + 1) / 2) * cheapest - 96) / 8));
}

/** Decodes one image's iterations in order (rnncodec.entropy.GridCoder). Codes are (C, h, w) 0/1 Uint8Arrays. */
export class GridCoder {
  constructor(channels, height, width, tables) {
    this.channels = channels; this.height = height; this.width = width;
    this.tables = tables || uniformTables(channels);
    this.counts = new Counts(this.tables.prior);
    this.iteration = 0;
    const size = channels * height * width;
    this.history = [new Uint8Array(size), new Uint8Array(size)]; // 0 absent, 1 → bit 0, 2 → bit 1
    this.passes = [[], []]; // raster positions of each checkerboard pass
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) this.passes[(y + x) % 2].push(y * width + x);
    this.passes = this.passes.map((p) => Int32Array.from(p));
  }

  get rawSize() {
    return Math.ceil((this.channels * this.height * this.width) / 8);
  }

  /** The bits (C, h, w) of one iteration chunk (mode RAW or CODED); DecodeError on invalid data. */
  decode(mode, payload) {
    const { channels: C, height: h, width: w } = this;
    const bits = new Uint8Array(C * h * w);
    if (mode === RAW) {
      if (payload.length !== this.rawSize) throw new DecodeError("raw chunk has the wrong length");
      for (let i = 0; i < bits.length; i++) bits[i] = (payload[i >> 3] >> (7 - (i & 7))) & 1;
      this.run(null, bits);
    } else if (mode === CODED) {
      if (this.iteration === 0 && payload.length < shortestFirstPayload(this.tables, C, h, w)) {
        throw new DecodeError(`coded chunk of ${payload.length} bytes is too short for ${h * w} blocks' codes`);
      }
      const stream = new SymbolStream(payload);
      this.run(stream, bits);
      stream.finish();
    } else {
      throw new DecodeError(`unknown chunk mode ${mode}`);
    }
    return bits;
  }

  /** One iteration's calls in coding order: decode into bits (or, without a stream, count raw bits). */
  run(stream, bits) {
    const { channels: C, height: h, width: w } = this;
    const plane = h * w;
    const state = iterationState(this.iteration);
    const [previous, before] = this.history;
    const partners = this.tables.partners;
    for (let p = 0; p < 2; p++) {
      const positions = this.passes[p];
      const n = positions.length;
      const contexts = new Int32Array(n);
      const symbols = new Uint8Array(n);
      for (let c = 0; c < C; c++) {
        const offset = c * plane;
        for (let i = 0; i < n; i++) {
          const pos = positions[i];
          const history = (state * 3 + previous[offset + pos]) * 3 + before[offset + pos];
          let neighbours = 0;
          if (p === 1) {
            const y = (pos / w) | 0, x = pos - y * w;
            let around = 0;
            if (y > 0) around += 2 * bits[offset + pos - w] - 1;
            if (y < h - 1) around += 2 * bits[offset + pos + w] - 1;
            if (x > 0) around += 2 * bits[offset + pos - 1] - 1;
            if (x < w - 1) around += 2 * bits[offset + pos + 1] - 1;
            neighbours = 5 + around;
          }
          let partner = 0;
          for (let j = 0; j < PARTNERS; j++) {
            const row = partners[c * PARTNERS + j];
            partner = partner * 3 + (row < 0 ? 0 : 1 + bits[row * plane + pos]);
          }
          contexts[i] = c * CONTEXTS_PER_CHANNEL + (history * 10 + neighbours) * 27 + partner;
        }
        if (stream) {
          decodeCall(stream, this.counts, contexts, symbols, n);
          for (let i = 0; i < n; i++) bits[offset + positions[i]] = symbols[i];
        } else {
          for (let i = 0; i < n; i++) symbols[i] = bits[offset + positions[i]];
          this.counts.update(contexts, symbols, n);
        }
      }
    }
    this.finishIteration(bits);
  }

  finishIteration(bits) {
    const older = this.history[1];
    for (let i = 0; i < bits.length; i++) older[i] = 1 + bits[i];
    this.history = [older, this.history[0]];
    this.iteration += 1;
  }
}
