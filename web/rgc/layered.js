// Entropy coders 3 and 4: layered block-stage iterations (docs/format.md, "Entropy coder 3" and "Entropy
// coder 4"), a port of rnncodec.layered.LayeredCoder's decoder. A layer's payload is the map (each
// block's refinement count, as binary decisions) then the refinements in rounds: coder 3 channel by
// channel, coder 4 the scale bits, then per component the "sent?" flags and the sent ones' signs.

import { GridCoder, Counts, CONTEXTS_PER_CHANNEL, PARTNERS, decodeCall, iterationState } from "./entropy.js";
import { SymbolStream } from "./range-coder.js";
import { NOT_SENT } from "./stage.js";

export const LAYERED_CODER_ID = 3;
export const TERNARY_CODER_ID = 4;
export const REFINEMENTS = 39; // refinements a block may get in a layered file (rnncodec.block_stage.REFINEMENTS)
const MAP_CONTEXTS = 4 * 4 * 3 * 5;

// Coder 4's contexts (rnncodec.layered: _flag_contexts, _sign_contexts, _scale_contexts).
const SENT_EDGES = [0, 1, 2, 3, 5, 8, 13, 21];
const PREVIOUS_SENT_EDGES = [0, 1, 4, 8, 12, 16, 20, 24];
const FLAG_STATES = 6 * SENT_EDGES.length * (1 + PREVIOUS_SENT_EDGES.length);
const SIGN_STATES = 6 * 4;
export function ternaryContexts(components) {
  return components * (FLAG_STATES + SIGN_STATES) + 6 * 3;
}
function stageLevelState(level) {
  return Math.min(level, 3) + (level >= 6 ? 1 : 0) + (level >= 12 ? 1 : 0);
}
function bucket(edges, n) { // the last edge ≤ n
  let b = 0;
  while (b + 1 < edges.length && edges[b + 1] <= n) b++;
  return b;
}

function levelState(level) {
  return (level >= 1 ? 1 : 0) + (level >= 3 ? 1 : 0) + (level >= 6 ? 1 : 0);
}

export class LayeredCoder {
  /** ``after``: the network's iterations (coded as coder 2 codes them); ``levels``: refinements per block. */
  constructor(channels, height, width, tables, after, levels, ternary = false) {
    this.grid = new GridCoder(channels, height, width, tables);
    this.ternary = ternary;
    if (ternary) {
      const size = ternaryContexts(channels - 1) * 2;
      const prior = tables?.stagePrior;
      if (prior && prior.length !== size) throw new Error(`the coder tables' stage prior has ${prior.length / 2} contexts, coder 4 needs ${size / 2}`);
      this.stageCounts = new Counts(prior || new Int32Array(size).fill(1));
      this.previousCodes = new Int32Array(channels * height * width).fill(-1); // each block's last refinement (C, h, w)
      this.previousSent = new Int32Array(height * width).fill(-1);
    }
    this.after = after; this.levels = levels;
    const blocks = height * width;
    this.level = new Int32Array(blocks); // refinements each block has had
    this.previous = new Int32Array(blocks).fill(1); // refinements each block got in the previous iteration
    this.mapCounts = new Counts(new Int32Array(MAP_CONTEXTS * 2).fill(1));
    this.codes = new Uint8Array(levels * channels * blocks); // every refinement's bits (levels, C, h, w)
    this.iterationStates = Array.from({ length: levels }, (_, l) => iterationState(after + l));
  }

  decodeGrid(mode, payload) {
    return this.grid.decode(mode, payload);
  }

  /** Decode a layer: each block's refinement count (Int32Array, raster order); their bits land in `codes`. */
  decodeLayer(payload) {
    if (this.grid.iteration < this.after) throw new Error(`a layer comes after the network's ${this.after} iterations`);
    const stream = new SymbolStream(payload);
    const count = this.map(stream);
    let most = 0;
    for (const n of count) most = Math.max(most, n);
    for (let r = 0; r < most; r++) (this.ternary ? this.ternaryRefinements(stream, count, r) : this.refinements(stream, count, r));
    stream.finish();
    this.grid.iteration += 1;
    this.previous = count;
    return count;
  }

  map(stream) {
    const { height: h, width: w } = this.grid;
    const blocks = h * w;
    const base = new Int32Array(blocks);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x;
        const around = (y > 0 && this.previous[i - w] > 0) + (y < h - 1 && this.previous[i + w] > 0)
          + (x > 0 && this.previous[i - 1] > 0) + (x < w - 1 && this.previous[i + 1] > 0);
        base[i] = (Math.min(this.previous[i], 2) * 5 + around) * 4;
      }
    }
    const decided = new Int32Array(blocks);
    let deciding = [];
    for (let i = 0; i < blocks; i++) if (this.level[i] < this.levels) deciding.push(i);
    for (let d = 0; d < this.levels && deciding.length; d++) {
      const n = deciding.length;
      const contexts = new Int32Array(n);
      const more = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        const i = deciding[j];
        contexts[j] = (base[i] + levelState(this.level[i] + d)) * 4 + Math.min(d, 3);
      }
      decodeCall(stream, this.mapCounts, contexts, more, n);
      const next = [];
      for (let j = 0; j < n; j++) {
        const i = deciding[j];
        decided[i] += more[j];
        if (decided[i] > d && this.level[i] + decided[i] < this.levels) next.push(i);
      }
      deciding = next;
    }
    return decided;
  }

  /** Round r: the next refinement of every block with count > r, channel by channel. */
  refinements(stream, count, r) {
    const grid = this.grid;
    const { channels: C, height: h, width: w } = grid;
    const plane = h * w;
    const where = [];
    for (let i = 0; i < plane; i++) if (count[i] > r) where.push(i);
    const n = where.length;
    const [previous, before] = grid.history;
    const partners = grid.tables.partners;
    const bits = new Uint8Array(C * n);
    const contexts = new Int32Array(n);
    const symbols = new Uint8Array(n);
    for (let c = 0; c < C; c++) {
      for (let j = 0; j < n; j++) {
        const pos = where[j];
        const state = this.iterationStates[this.level[pos]];
        const history = (state * 3 + previous[c * plane + pos]) * 3 + before[c * plane + pos];
        let partner = 0;
        for (let k = 0; k < PARTNERS; k++) {
          const row = partners[c * PARTNERS + k];
          partner = partner * 3 + (row < 0 ? 0 : 1 + bits[row * n + j]);
        }
        contexts[j] = history * 10 * 27 + c * CONTEXTS_PER_CHANNEL + partner;
      }
      decodeCall(stream, grid.counts, contexts, symbols, n);
      bits.set(symbols, c * n);
    }
    for (let j = 0; j < n; j++) {
      const pos = where[j];
      const level = this.level[pos];
      for (let c = 0; c < C; c++) {
        const b = bits[c * n + j];
        this.codes[(level * C + c) * plane + pos] = b;
        before[c * plane + pos] = previous[c * plane + pos];
        previous[c * plane + pos] = 1 + b;
      }
      this.level[pos] = level + 1;
    }
  }

  /** Coder 4's round r: the scale bits, then per component the flags and the sent ones' signs. */
  ternaryRefinements(stream, count, r) {
    const { channels: C, height: h, width: w } = this.grid;
    const plane = h * w, K = C - 1;
    const where = [];
    for (let i = 0; i < plane; i++) if (count[i] > r) where.push(i);
    const n = where.length;
    const levelState = new Int32Array(n), previousState = new Int32Array(n), sentBefore = new Int32Array(n);
    const symbols = new Uint8Array(C * n);
    const contexts = new Int32Array(n), out = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      const pos = where[j];
      levelState[j] = stageLevelState(this.level[pos]);
      const sent = this.previousSent[pos];
      previousState[j] = sent < 0 ? 0 : 1 + bucket(PREVIOUS_SENT_EDGES, sent);
      contexts[j] = K * (FLAG_STATES + SIGN_STATES) + levelState[j] * 3 + this.previousCodes[K * plane + pos] + 1;
    }
    decodeCall(stream, this.stageCounts, contexts, out, n);
    symbols.set(out, K * n);
    const sentAt = new Int32Array(n);
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < n; j++) {
        contexts[j] = ((levelState[j] * K + k) * SENT_EDGES.length + bucket(SENT_EDGES, sentBefore[j])) * (1 + PREVIOUS_SENT_EDGES.length) + previousState[j];
      }
      decodeCall(stream, this.stageCounts, contexts, out, n);
      let m = 0;
      for (let j = 0; j < n; j++) {
        if (out[j]) sentAt[m++] = j;
        else symbols[k * n + j] = NOT_SENT;
      }
      const signContexts = new Int32Array(m), signs = new Uint8Array(m);
      for (let i = 0; i < m; i++) {
        const j = sentAt[i];
        signContexts[i] = K * FLAG_STATES + (levelState[j] * K + k) * 4 + this.previousCodes[k * plane + where[j]] + 1;
      }
      decodeCall(stream, this.stageCounts, signContexts, signs, m);
      for (let i = 0; i < m; i++) {
        symbols[k * n + sentAt[i]] = signs[i];
        sentBefore[sentAt[i]] += 1;
      }
    }
    for (let j = 0; j < n; j++) {
      const pos = where[j], level = this.level[pos];
      for (let c = 0; c < C; c++) {
        const s = symbols[c * n + j];
        this.codes[(level * C + c) * plane + pos] = s;
        this.previousCodes[c * plane + pos] = s;
      }
      this.previousSent[pos] = sentBefore[j];
      this.level[pos] = level + 1;
    }
  }
}
