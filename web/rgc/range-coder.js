// The range coder rnncodec's entropy coders 2 and 3 use: a port of constriction's queue
// RangeEncoder / RangeDecoder (32-bit words, 64-bit state, 24-bit probabilities) with its
// Bernoulli(perfect=False) model (docs/format.md, "Entropy coder 2"). Bit-exact with it: the
// decoder's re-encoding check (encoder output === payload) holds exactly when it does in Python.
//
// A 64-bit state value is kept as two unsigned 32-bit halves (hi, lo) in plain numbers; every
// intermediate stays below 2^53, so all arithmetic is exact.

const TWO32 = 4294967296;
const PRECISION = 24;
const ONE = 1 << PRECISION; // 2^24: the fixed-point total of a model's probabilities
const FREE = ONE - 2; // constriction's fast quantizer leaves one slot to each of the two symbols

/** The fixed-point weight of symbol 0 for P(1) = k / 2^16 (k an integer in 1..2^16 − 1), as
 * constriction's `from_floating_point_probabilities_fast([1 − p, p])` computes it:
 * floor((1 − p) · (2^24 − 2)) + 1, exact because every factor is a short dyadic number. */
export function zeroWeight(k) {
  return Math.floor(((65536 - k) * FREE) / 65536) + 1;
}

/** (scale · m) as [hi, lo], scale < 2^40, m < 2^26. */
function mul64(scale, m) {
  const s1 = Math.floor(scale / 65536);
  const s0 = scale - s1 * 65536;
  const a = s1 * m; // < 2^50
  const b = s0 * m; // < 2^42
  const aHigh = Math.floor(a / 65536);
  let lo = (a - aHigh * 65536) * 65536 + b;
  const carry = Math.floor(lo / TWO32);
  lo -= carry * TWO32;
  return [(aHigh + carry) % TWO32, lo];
}

export class DecodeError extends Error {}

/** constriction's RangeEncoder<u32, u64>: encode binary symbols, then `words()` (get_compressed). */
export class RangeEncoder {
  constructor() {
    this.words = [];
    this.lowerHi = 0; this.lowerLo = 0;
    this.rangeHi = TWO32 - 1; this.rangeLo = TWO32 - 1; // State::max_value()
    this.inverted = 0; // EncoderSituation::Inverted(num_inverted, first_word) when > 0
    this.firstInverted = 0;
  }

  /** Encode one bit with symbol-0 weight `w0` (see zeroWeight). */
  encode(bit, w0) {
    const scale = this.rangeHi * 256 + (this.rangeLo >>> 24);
    const [rh, rl] = mul64(scale, bit ? ONE - w0 : w0);
    let nh = this.lowerHi, nl = this.lowerLo;
    if (bit) {
      const [ah, al] = mul64(scale, w0);
      nl += al;
      const c = nl >= TWO32 ? 1 : 0;
      nl -= c * TWO32;
      nh = (nh + ah + c) % TWO32;
    }
    if (this.inverted) {
      // inverted → normal once lower + range no longer wraps
      if (!wraps(nh, nl, rh, rl)) {
        const wrapped = nh < this.lowerHi || (nh === this.lowerHi && nl < this.lowerLo);
        const first = wrapped ? (this.firstInverted + 1) % TWO32 : this.firstInverted;
        const rest = wrapped ? 0 : TWO32 - 1;
        this.words.push(first);
        for (let i = 1; i < this.inverted; i++) this.words.push(rest);
        this.inverted = 0;
      }
    }
    this.lowerHi = nh; this.lowerLo = nl;
    this.rangeHi = rh; this.rangeLo = rl;
    if (rh === 0) { // range < 2^32: emit the top word
      this.rangeHi = rl; this.rangeLo = 0;
      const word = this.lowerHi;
      this.lowerHi = this.lowerLo; this.lowerLo = 0;
      if (this.inverted) this.inverted += 1;
      else if (!wraps(this.lowerHi, this.lowerLo, this.rangeHi, this.rangeLo)) this.words.push(word);
      else { this.inverted = 1; this.firstInverted = word; }
    }
  }

  /** The compressed words: what has been written plus the sealing words (constriction's get_compressed). */
  compressed() {
    const out = this.words.slice();
    if (this.rangeHi === TWO32 - 1 && this.rangeLo === TWO32 - 1) return out; // nothing encoded
    // point = lower + (2^32 − 1)
    let pl = this.lowerLo + (TWO32 - 1);
    const c = pl >= TWO32 ? 1 : 0;
    pl -= c * TWO32;
    const ph = (this.lowerHi + c) % TWO32;
    if (this.inverted) {
      const noWrap = ph > this.lowerHi || (ph === this.lowerHi && pl >= this.lowerLo);
      out.push(noWrap ? this.firstInverted : (this.firstInverted + 1) % TWO32);
      for (let i = 1; i < this.inverted; i++) out.push(noWrap ? TWO32 - 1 : 0);
    }
    out.push(ph);
    // upper word of lower + range (wrapping)
    let ul = this.lowerLo + this.rangeLo;
    const c2 = ul >= TWO32 ? 1 : 0;
    const uh = (this.lowerHi + this.rangeHi + c2) % TWO32;
    if (uh === ph) out.push(0);
    return out;
  }
}

/** Whether lower + range wraps past 2^64 (constriction: !(lower.wrapping_add(range) > lower)). */
function wraps(lh, ll, rh, rl) {
  let sl = ll + rl;
  const c = sl >= TWO32 ? 1 : 0;
  sl -= c * TWO32;
  const sh = lh + rh + c;
  if (sh >= TWO32) { // wrapped: sum mod 2^64 is below lower (range > 0)
    return true;
  }
  return !(sh > lh || (sh === lh && sl > ll));
}

/** constriction's RangeDecoder<u32, u64> over a payload of little-endian 32-bit words. */
export class RangeDecoder {
  constructor(words) {
    this.buffer = words; // Uint32Array
    this.pos = 0;
    this.lowerHi = 0; this.lowerLo = 0;
    this.rangeHi = TWO32 - 1; this.rangeLo = TWO32 - 1;
    // read_point: up to two words, left-aligned
    const n = Math.min(2, words.length);
    this.pointHi = n >= 1 ? words[0] : 0;
    this.pointLo = n >= 2 ? words[1] : 0;
    this.pos = n;
  }

  /** Decode one bit with symbol-0 weight `w0`; DecodeError on data no encoder writes. */
  decode(w0) {
    const scale = this.rangeHi * 256 + (this.rangeLo >>> 24);
    // diff = point − lower (wrapping); quantile = floor(diff / scale)
    let dl = this.pointLo - this.lowerLo;
    let dh = this.pointHi - this.lowerHi;
    if (dl < 0) { dl += TWO32; dh -= 1; }
    if (dh < 0) dh += TWO32;
    let q = Math.floor((dh * TWO32 + dl) / scale);
    // correct the floating estimate: q · scale ≤ diff < (q + 1) · scale
    for (;;) {
      const [ph, pl] = mul64(scale, q);
      if (ph > dh || (ph === dh && pl > dl)) { q -= 1; continue; }
      const [nh, nl] = mul64(scale, q + 1);
      if (nh < dh || (nh === dh && nl <= dl)) { q += 1; continue; }
      break;
    }
    if (q >= ONE) throw new DecodeError("invalid data (the range decoder's quantile is out of range)");
    const bit = q >= w0 ? 1 : 0;
    if (bit) {
      const [ah, al] = mul64(scale, w0);
      let nl = this.lowerLo + al;
      const c = nl >= TWO32 ? 1 : 0;
      nl -= c * TWO32;
      this.lowerLo = nl;
      this.lowerHi = (this.lowerHi + ah + c) % TWO32;
    }
    const [rh, rl] = mul64(scale, bit ? ONE - w0 : w0);
    this.rangeHi = rh; this.rangeLo = rl;
    if (rh === 0) {
      this.lowerHi = this.lowerLo; this.lowerLo = 0;
      this.rangeHi = rl; this.rangeLo = 0;
      this.pointHi = this.pointLo;
      this.pointLo = this.pos < this.buffer.length ? this.buffer[this.pos++] : 0;
    }
    return bit;
  }
}

/** One chunk's range-coded bits, decoded and re-encoded as they come (rnncodec.entropy.SymbolStream):
 * `finish()` checks the payload is exactly the coding of what was decoded. */
export class SymbolStream {
  constructor(payload) {
    if (payload.length % 4) throw new DecodeError("coded chunk length is not a multiple of 4");
    const words = new Uint32Array(payload.length / 4);
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    for (let i = 0; i < words.length; i++) words[i] = view.getUint32(4 * i, true);
    this.words = words;
    this.decoder = new RangeDecoder(words);
    this.encoder = new RangeEncoder();
  }

  /** Decode one bit with P(1) = k / 2^16. */
  bit(k) {
    const w0 = zeroWeight(k);
    const b = this.decoder.decode(w0);
    this.encoder.encode(b, w0);
    return b;
  }

  finish() {
    const coded = this.encoder.compressed();
    const same = coded.length === this.words.length && coded.every((w, i) => w === this.words[i]);
    if (!same) throw new DecodeError("coded chunk is not the coding of its codes (it is cut short or holds more)");
  }
}
