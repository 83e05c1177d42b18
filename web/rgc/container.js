// The .rgc container (docs/format.md): the header and the checked chunks, read as the bytes arrive.
// A port of rnncodec.bitstream's rules and messages: `FileReader` takes the bytes so far and yields
// the intact chunks in order, or the first damage, naming the iteration as the Python decoder does.

export const MAGIC = [0x89, 0x52, 0x47, 0x43, 0x0d, 0x0a, 0x1a, 0x0a];
export const READABLE_VERSIONS = [1, 2, 3];
export const VERSION = 3;
export const MODES = ["RGB", "L", "RGBA", "LA"];
export const BLOCK = 16;
export const MAX_ITERATIONS = 16;
const MAX_SIDE = 1 << 15, MAX_PIXELS = 1 << 26, MAX_TILE = 4096;
export const CHUNK_ITERATION = 0x49, CHUNK_ALPHA = 0x41, CHUNK_ICC = 0x43, CHUNK_METADATA = 0x4d;
export const HAS_ICC = 1, HAS_ALPHA = 2, HAS_METADATA = 4;
export const MAX_ICC = 1 << 20, MAX_METADATA = 1 << 22;
const LAYER_REFINEMENTS = 48;

/** A file that is not a readable .rgc file (a bad header): nothing of it decodes. */
export class FormatError extends Error {}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** zlib's crc32(data, start). */
export function crc32(data, start = 0) {
  let c = (start ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function headerSize(version) {
  return version >= 3 ? 46 : 37;
}

/** The header at the start of `data` (Uint8Array, which may go on past it); FormatError if it is bad or cut short. */
export function parseHeader(data) {
  if (!data.length) throw new FormatError("empty file");
  if (data.length < 8 || MAGIC.some((b, i) => data[i] !== b)) throw new FormatError("not an .rgc file (bad magic bytes)");
  if (data.length < 9) throw new FormatError("truncated header");
  const version = data[8];
  if (!READABLE_VERSIONS.includes(version)) {
    throw new FormatError(`unsupported .rgc version ${version} (this build reads versions 1–${VERSION})`);
  }
  const size = headerSize(version);
  if (data.length < size) throw new FormatError("truncated header");
  const view = new DataView(data.buffer, data.byteOffset, size);
  const body = data.subarray(0, size - 4);
  if (view.getUint32(size - 4, true) !== crc32(body)) throw new FormatError("header is corrupt (CRC mismatch)");
  const modeByte = data[9];
  if (modeByte > 3) throw new FormatError(`unknown colour mode ${modeByte}`);
  const header = {
    version, body: body.slice(), size,
    mode: MODES[modeByte], coderId: data[10], iterations: data[11],
    width: view.getUint32(12, true), height: view.getUint32(16, true),
    padRight: data[20], padBottom: data[21], tile: view.getUint16(22, true), codeChannels: data[24],
    modelId: hex(data.subarray(25, 33)),
    flags: version >= 3 ? data[33] : 0, fileId: version >= 3 ? hex(data.subarray(34, 42)) : "",
  };
  validate(header);
  if (header.padRight !== (-header.width & 15) || header.padBottom !== (-header.height & 15)) {
    throw new FormatError("padding does not match the image size");
  }
  header.hasAlpha = header.mode === "RGBA" || header.mode === "LA";
  header.rows = (header.height + header.padBottom) / BLOCK;
  header.columns = (header.width + header.padRight) / BLOCK;
  header.rawCodeBytes = Math.ceil((header.codeChannels * header.rows * header.columns) / 8);
  return header;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function validate(h) {
  const { width, height } = h;
  if (!(width >= 1 && width <= MAX_SIDE && height >= 1 && height <= MAX_SIDE && width * height <= MAX_PIXELS)) {
    throw new FormatError(`image size ${width}×${height} is outside the limits (${MAX_SIDE} per side, ${MAX_PIXELS} pixels)`);
  }
  if (!(h.iterations >= 1 && h.iterations <= MAX_ITERATIONS)) {
    throw new FormatError(`iteration count ${h.iterations} is outside 1..${MAX_ITERATIONS}`);
  }
  if (!(h.codeChannels >= 1 && h.codeChannels <= 64)) throw new FormatError(`code channel count ${h.codeChannels} is outside 1..64`);
  if (h.tile % BLOCK || h.tile < BLOCK || h.tile > MAX_TILE) {
    throw new FormatError(`tile size ${h.tile} is not a multiple of ${BLOCK} in ${BLOCK}..${MAX_TILE}`);
  }
  if (h.version >= 3) {
    if (h.flags & ~(HAS_ICC | HAS_ALPHA | HAS_METADATA)) {
      throw new FormatError(`unknown chunk flags 0x${h.flags.toString(16).padStart(2, "0")} (this build knows ICC, alpha and metadata)`);
    }
    if (Boolean(h.flags & HAS_ALPHA) !== (h.mode === "RGBA" || h.mode === "LA")) {
      throw new FormatError(`the alpha flag disagrees with colour mode ${h.mode}`);
    }
  }
}

function zlibBound(size) {
  return size + Math.floor(size / 100) + 64;
}

/** Largest valid payload of each chunk type (rnncodec.bitstream.Header.chunk_limits). */
function chunkLimits(h) {
  const blocks = h.rows * h.columns;
  const limits = {
    [CHUNK_ITERATION]: h.coderId === 3 || h.coderId === 4 ? (h.coderId - 1) * LAYER_REFINEMENTS * h.rawCodeBytes + blocks + 64 : h.rawCodeBytes,
    [CHUNK_ALPHA]: zlibBound(h.width * h.height),
  };
  if (h.version >= 2) limits[CHUNK_ICC] = zlibBound(MAX_ICC);
  if (h.version >= 3) limits[CHUNK_METADATA] = zlibBound(MAX_METADATA);
  return limits;
}

/** A zlib stream inflated (DecompressionStream), or null if it holds more than `most` bytes; a
 * stream that does not inflate (or has bytes after its end) throws FormatError naming `name`. */
export async function inflate(payload, most, name) {
  const stream = new Blob([payload]).stream().pipeThrough(new DecompressionStream("deflate"));
  const reader = stream.getReader();
  const parts = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      total += value.length;
      if (total > most) {
        reader.cancel().catch(() => {});
        return null;
      }
    }
  } catch {
    throw new FormatError(`${name} does not decompress`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/**
 * Walks a file's chunks as its bytes arrive. `push(bytes)` adds bytes; `next()` gives the next
 * whole chunk whose framing and CRC hold ({kind, mode, index, payload, start, end}), a broken one
 * ({broken: problem, start}), or null until more bytes come.
 */
export class ChunkWalker {
  constructor(header) {
    this.header = header;
    this.headSize = header.version >= 2 ? 7 : 6;
    this.limits = chunkLimits(header);
    this.crcStart = header.version >= 2 ? crc32(header.body) : 0;
    this.offset = header.size;
    this.place = 0;
    this.stopped = false;
  }

  next(data) {
    if (this.stopped || data.length - this.offset < this.headSize) return null;
    const { offset, headSize, header } = this;
    const view = new DataView(data.buffer, data.byteOffset);
    const kind = data[offset], mode = data[offset + 1];
    const length = view.getUint32(offset + headSize - 4, true);
    if (!(kind in this.limits)) {
      this.stopped = true;
      return { broken: `has unknown type ${kind}`, start: offset };
    }
    if (length > this.limits[kind]) {
      this.stopped = true;
      return { broken: `claims ${length} bytes, more than its limit ${this.limits[kind]}`, start: offset };
    }
    const end = offset + headSize + length + 4;
    if (end > data.length) return null;
    if (view.getUint32(end - 4, true) !== crc32(data.subarray(offset, end - 4), this.crcStart)) {
      this.stopped = true;
      return { broken: "is corrupt (CRC mismatch)", start: offset };
    }
    if (kind === CHUNK_ITERATION) this.place += 1;
    const index = header.version >= 2 ? data[offset + 2] : kind === CHUNK_ITERATION ? this.place : 0;
    this.offset = end;
    return { kind, mode, index, payload: data.slice(offset + headSize, end - 4), start: offset, end };
  }
}

/** Why an iteration chunk (raw or coded) found where iteration `expected` belongs cannot be it;
 * null if it can. `later`: the whole chunks after it (to tell a reordered chunk from a dropped one). */
export function iterationProblem(chunk, expected, later, header) {
  const where = `the chunk at byte ${chunk.start}`;
  if (chunk.index !== expected) {
    if (!(chunk.index >= 1 && chunk.index <= header.iterations)) {
      return `${where} claims iteration ${chunk.index}, outside 1..${header.iterations}`;
    }
    if (chunk.index < expected) return `${where} repeats iteration ${chunk.index} (duplicated chunk)`;
    if (later.some((c) => !c.broken && c.kind === CHUNK_ITERATION && c.index === expected)) {
      return `out of order: ${where} is iteration ${chunk.index}, iteration ${expected} comes later (reordered chunks)`;
    }
    return `missing: ${where} is iteration ${chunk.index} (dropped chunk)`;
  }
  if (chunk.mode !== 0 && chunk.mode !== 1) return `${where} has unknown mode ${chunk.mode}`;
  if (chunk.mode === 0 && chunk.payload.length !== header.rawCodeBytes) {
    return `the raw chunk at byte ${chunk.start} holds ${chunk.payload.length} bytes, not ${header.rawCodeBytes}`;
  }
  if (chunk.mode === 1 && chunk.payload.length % 4) {
    return `the coded chunk at byte ${chunk.start} has a length that is not a multiple of 4`;
  }
  return null;
}

/** The entries of a metadata chunk's inflated bytes (rnncodec.bitstream.unpack_metadata's checks). */
export function checkMetadata(data) {
  if (!data || !data.length) throw new FormatError(`metadata chunk does not hold 1..${MAX_METADATA} bytes of entries`);
  const order = [0x45, 0x58];
  let offset = 0, last = -1;
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  while (offset < data.length) {
    if (data.length - offset < 5) throw new FormatError("metadata chunk ends inside an entry");
    const kind = data[offset], length = view.getUint32(offset + 1, true);
    if (!order.includes(kind) || order.indexOf(kind) <= last || !(length > 0 && length <= data.length - offset - 5)) {
      throw new FormatError(`metadata chunk has a bad entry at byte ${offset} (kind ${kind}, ${length} bytes)`);
    }
    last = order.indexOf(kind);
    offset += 5 + length;
  }
}
