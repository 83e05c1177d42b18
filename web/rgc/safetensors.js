// Reading safetensors files (the weights and block stage files): the header's tensors and metadata,
// floating-point tensors as Float32Array whatever their stored dtype (float32, float16, bfloat16).

export class WeightsError extends Error {}

const FLOAT_DTYPES = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const INT_ARRAYS = { I64: BigInt64Array, I32: Int32Array, I16: Int16Array, I8: Int8Array, U8: Uint8Array, U16: Uint16Array, U32: Uint32Array };

export class SafeTensors {
  /** `bytes`: the whole file (Uint8Array); `name`: for messages. */
  constructor(bytes, name) {
    this.name = name;
    if (bytes.length < 8) throw new WeightsError(`${name}: not a safetensors file`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const size = Number(view.getBigUint64(0, true));
    if (size > bytes.length - 8) throw new WeightsError(`${name}: not a safetensors file`);
    let header;
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + size)));
    } catch {
      throw new WeightsError(`${name}: not a safetensors file`);
    }
    this.metadata = header.__metadata__ || {};
    delete header.__metadata__;
    this.entries = header;
    this.data = bytes.subarray(8 + size);
  }

  has(name) {
    return name in this.entries;
  }

  names() {
    return Object.keys(this.entries);
  }

  /** {dtype, shape, bytes} of a tensor as stored. */
  raw(name) {
    const entry = this.entries[name];
    if (!entry) throw new WeightsError(`${this.name}: no tensor ${name}`);
    const [start, end] = entry.data_offsets;
    return { dtype: entry.dtype, shape: entry.shape, bytes: this.data.subarray(start, end) };
  }

  /** A floating-point tensor as Float32Array (float16 and bfloat16 widened exactly). */
  float32(name) {
    const { dtype, bytes } = this.raw(name);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const n = bytes.length / (FLOAT_DTYPES[dtype] || NaN);
    if (!Number.isInteger(n)) throw new WeightsError(`${this.name}: ${name} is ${dtype}, not floating-point`);
    const out = new Float32Array(n);
    if (dtype === "F32") for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
    else if (dtype === "F64") for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
    else if (dtype === "F16") {
      const halves = new Uint16Array(bytes.slice().buffer); // little-endian, as the platforms that run browsers are
      const table = halfTable();
      for (let i = 0; i < n; i++) out[i] = table[halves[i]];
    }
    else for (let i = 0; i < n; i++) out[i] = new Float32Array(new Uint32Array([view.getUint16(2 * i, true) << 16]).buffer)[0];
    return out;
  }

  /** An integer tensor as an Int32Array of its values. */
  int32(name) {
    const { dtype, bytes } = this.raw(name);
    const Kind = INT_ARRAYS[dtype];
    if (!Kind) throw new WeightsError(`${this.name}: ${name} is ${dtype}, not an integer tensor`);
    const copy = bytes.slice();
    return Int32Array.from(new Kind(copy.buffer), Number);
  }

  isFloat(name) {
    return this.entries[name].dtype in FLOAT_DTYPES;
  }

  /** A metadata entry parsed as JSON (rnncodec.weights.read_metadata), "format" as it is. */
  meta(key) {
    const value = this.metadata[key];
    if (value === undefined) return undefined;
    return key === "format" ? value : JSON.parse(value);
  }
}

let table = null;

/** Every half-precision value as float32, indexed by its bits. */
function halfTable() {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  return table;
}

/** IEEE half → number (exact). */
export function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
