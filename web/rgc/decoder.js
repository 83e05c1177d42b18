// Progressive decoding of an .rgc byte stream: the container's checks as the chunks arrive, each
// iteration's codes entropy-decoded (coder 2, or coder 3's layers), the picture reconstructed and
// handed over after every iteration. Refusals and damage carry the Python decoder's messages.

import { CHUNK_ALPHA, CHUNK_ICC, CHUNK_ITERATION, CHUNK_METADATA, ChunkWalker, FormatError, HAS_ALPHA, HAS_ICC,
  HAS_METADATA, MAX_ICC, MAX_METADATA, READABLE_VERSIONS, checkMetadata, headerSize, inflate, iterationProblem,
  parseHeader } from "./container.js";
import { GridCoder, CODED, shortestFirstPayload } from "./entropy.js";
import { LAYERED_CODER_ID, TERNARY_CODER_ID, LayeredCoder, REFINEMENTS } from "./layered.js";
import { loadModel, UnknownModelError, WeightsError } from "./model.js";
import { Reconstruction } from "./reconstruction.js";

export { FormatError, UnknownModelError, WeightsError };
const CODER_ID = 2;

/** A damaged file: `intact` iterations before the damage decode; `message` names the damage. */
export class DamageError extends Error {
  constructor(message, intact) {
    super(message);
    this.intact = intact;
  }
}

/** A file cut short: its complete iterations were decoded (none: it is refused). */
export class TruncatedError extends Error {
  constructor(message, intact) {
    super(message);
    this.intact = intact;
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Bytes as they arrive from an async iterable of Uint8Array chunks, read as fast as they come
 * (while the model loads or an iteration decodes), so the count of bytes received stays live. */
class ByteBuffer {
  constructor(source, onBytes) {
    this.source = source;
    this.onBytes = onBytes;
    this.data = new Uint8Array(1 << 16);
    this.length = 0;
    this.seen = 0; // bytes handed out by more()
    this.done = false;
    this.error = null;
    this.waiting = [];
    this.pump();
  }

  get bytes() {
    return this.data.subarray(0, this.length);
  }

  async pump() {
    try {
      for await (const value of this.source) {
        if (this.length + value.length > this.data.length) {
          const grown = new Uint8Array(Math.max(2 * this.data.length, this.length + value.length));
          grown.set(this.bytes);
          this.data = grown;
        }
        this.data.set(value, this.length);
        this.length += value.length;
        this.wake();
        if (this.done) break;
      }
    } catch (error) {
      this.error = error;
    }
    this.done = true;
    this.wake();
  }

  wake() {
    try {
      this.onBytes(this.length);
    } catch {
      // the caller stopped listening
    }
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  /** Wait for bytes not yet handed out; false when the stream has ended (its error, if any, thrown). */
  async more() {
    for (;;) {
      if (this.length > this.seen) {
        this.seen = this.length;
        return true;
      }
      if (this.done) {
        if (this.error) throw this.error;
        return false;
      }
      await new Promise((resolve) => this.waiting.push(resolve));
    }
  }

  async rest() {
    while (await this.more());
  }

  /** Stop reading (the bytes wanted are in). */
  close() {
    this.done = true;
    this.source.cancel?.();
  }
}

/**
 * Decode the .rgc file whose bytes `source` yields (async iterable of Uint8Array).
 * options: models (URL of the models folder, ending in /), ort (onnxruntime-web), iterations (stop
 * after K), onHeader(header), onIteration({iteration, pixels, bytes}), onBytes(received).
 * Resolves to {painted, header} after the last iteration; throws FormatError (bad header),
 * UnknownModelError, WeightsError, TruncatedError or DamageError (after the intact iterations were given).
 */
export async function decode(source, options) {
  const onBytes = options.onBytes || (() => {});
  const buffer = new ByteBuffer(source, onBytes);
  try {
    return await decodeBytes(buffer, options);
  } finally {
    buffer.close();
  }
}

async function decodeBytes(buffer, options) {
  const header = await readHeader(buffer);
  options.onHeader?.(header);
  const model = await loadModel(options.models, header.modelId, options.ort);
  checkCompatible(model, header);
  const wanted = Math.min(options.iterations || header.iterations, header.iterations);
  const walker = new ChunkWalker(header);
  const layered = header.coderId === LAYERED_CODER_ID || header.coderId === TERNARY_CODER_ID;
  const coder = layered ? new LayeredCoder(header.codeChannels, header.rows, header.columns, model.tables, model.stage.after, REFINEMENTS,
    header.coderId === TERNARY_CODER_ID) : null;
  const grid = layered ? coder.grid : new GridCoder(header.codeChannels, header.rows, header.columns, model.tables);
  const picture = new Reconstruction(model, header, options.ort);
  const contents = { icc: null, metadata: null, alpha: null, iterations: 0, end: header.size };
  let frame;
  for (;;) {
    frame = walker.next(buffer.bytes);
    if (frame === null) {
      if (await buffer.more()) continue;
      break;
    }
    const expected = contents.iterations + 1;
    if (expected > header.iterations) break;
    const { stage, problem } = await place(frame, contents, header, walker, buffer);
    if (problem) throw new DamageError(`${stage}: ${problem}`, contents.iterations);
    if (frame.kind !== CHUNK_ITERATION) continue;
    await decodeIteration(frame, expected, { header, model, layered, coder, grid, picture });
    contents.iterations = expected;
    contents.end = frame.end;
    options.onIteration?.({ iteration: expected, pixels: await picture.pixels(contents.alpha, expected), bytes: frame.end, header });
    if (expected === wanted) break;
  }
  const done = contents.iterations;
  if (done === wanted && wanted < header.iterations) return { painted: done, header };
  if (done === header.iterations) {
    await buffer.rest();
    if (buffer.length > contents.end) {
      throw new DamageError(`${buffer.length - contents.end} bytes of trailing data after the last chunk`, done);
    }
    return { painted: done, header };
  }
  if (header.hasAlpha && contents.alpha === null) throw new TruncatedError("truncated file: the alpha channel is missing", 0);
  if (!done) throw new TruncatedError("truncated file: no complete iteration", 0);
  throw new TruncatedError(`truncated file: decoded ${done} of ${plural(header.iterations, "iteration")}`, done);
}

async function readHeader(buffer) {
  for (;;) {
    const data = buffer.bytes;
    const enough = data.length >= 9 && (!READABLE_VERSIONS.includes(data[8]) || data.length >= headerSize(data[8]));
    const wrongStart = data.length >= 1 && [0x89, 0x52, 0x47, 0x43, 0x0d, 0x0a, 0x1a, 0x0a].slice(0, data.length).some((b, i) => data[i] !== b);
    if (enough || wrongStart) return parseHeader(data);
    if (!(await buffer.more())) return parseHeader(buffer.bytes);
  }
}

/** Refuse a file this model cannot decode (rnncodec.codec.ModelPipeline.check_compatible). */
function checkCompatible(model, header) {
  const coders = !model.stage ? [CODER_ID] : model.stage.ternary ? [TERNARY_CODER_ID] : [CODER_ID, LAYERED_CODER_ID];
  if (!coders.includes(header.coderId)) throw new FormatError(`file uses entropy coder ${header.coderId}; this model decodes coders [${coders.join(", ")}]`);
  if (header.codeChannels !== model.cfg.code_channels) throw new FormatError("file's code channel count does not match the model");
  if (header.iterations > model.cfg.max_iterations) {
    throw new FormatError(`file declares ${header.iterations} iterations; the model runs at most ${model.cfg.max_iterations}`);
  }
}

/** Where a chunk belongs (rnncodec.bitstream.read): take an ICC, metadata or alpha chunk, check an
 * iteration chunk's place; returns {stage, problem} (problem null when the chunk is in order). */
async function place(frame, contents, header, walker, buffer) {
  const expected = contents.iterations + 1;
  const v3 = header.version >= 3;
  const awaitingAlpha = header.hasAlpha && contents.alpha === null;
  const awaitingIcc = v3 && header.flags & HAS_ICC && contents.icc === null;
  const awaitingMetadata = v3 && header.flags & HAS_METADATA && contents.metadata === null;
  let stage = awaitingIcc ? "ICC chunk" : awaitingMetadata ? "metadata chunk" : awaitingAlpha ? "alpha chunk" : `iteration ${expected}`;
  const at = `the chunk at byte ${frame.start}`;
  let problem = null;
  if (frame.broken) problem = `${at} ${frame.broken}`;
  else if (awaitingIcc && frame.kind !== CHUNK_ICC) problem = `missing: the header lists an ICC profile, ${at} is another`;
  else if (awaitingMetadata && frame.kind !== CHUNK_METADATA && frame.kind !== CHUNK_ICC) problem = `missing: the header lists metadata, ${at} is another`;
  else if (frame.kind === CHUNK_METADATA) {
    if (!(header.flags & HAS_METADATA)) problem = `${at} is metadata the header does not list`;
    else problem = await take(frame, "metadata chunk", contents.metadata !== null || contents.alpha !== null || contents.iterations > 0, async (p) => {
      const data = await inflate(p, MAX_METADATA, "metadata chunk");
      checkMetadata(data);
      contents.metadata = data;
    });
  } else if (frame.kind === CHUNK_ICC) {
    if (!(contents.icc || contents.alpha || contents.iterations)) stage = "ICC chunk";
    problem = await take(frame, "ICC chunk", contents.icc !== null || contents.metadata !== null || contents.alpha !== null || contents.iterations > 0, async (p) => {
      const profile = await inflate(p, MAX_ICC, "ICC chunk");
      if (!profile || !profile.length) throw new FormatError(`ICC chunk does not hold a profile of 1..${MAX_ICC} bytes`);
      contents.icc = profile;
    });
    if (!problem && v3 && !(header.flags & HAS_ICC)) problem = `${at} is an ICC profile the header does not list`;
  } else if (frame.kind === CHUNK_ALPHA) {
    if (!header.hasAlpha) problem = `alpha chunk at byte ${frame.start} in a file without alpha (mode ${header.mode})`;
    else problem = await take(frame, "alpha chunk", contents.alpha !== null || contents.iterations > 0, async (p) => {
      const plane = await inflate(p, header.width * header.height, "alpha chunk");
      if (!plane || plane.length !== header.width * header.height) {
        throw new FormatError(`alpha chunk does not hold exactly ${header.width}×${header.height} bytes`);
      }
      contents.alpha = plane;
    });
  } else if (awaitingAlpha) problem = `missing: an iteration chunk comes first, at byte ${frame.start}`;
  else {
    let later = [];
    if (frame.index !== expected) { // reordered or dropped: the rest of the file tells which
      await buffer.rest();
      for (let next; (next = walker.next(buffer.bytes)) !== null;) later.push(next);
    }
    problem = iterationProblem(frame, expected, later, header);
  }
  return { stage, problem };
}

async function take(frame, name, misplaced, unpack) {
  if (misplaced) return `second or misplaced ${name} at byte ${frame.start}`;
  if (frame.mode !== 0 || frame.index !== 0) return `${name} at byte ${frame.start} has mode ${frame.mode} and index ${frame.index} (both must be 0)`;
  try {
    await unpack(frame.payload);
  } catch (e) {
    if (e instanceof FormatError) return e.message;
    throw e;
  }
  return null;
}

/** Entropy-decode iteration `t`'s chunk and bring the picture up to it; DamageError if its codes do not decode. */
async function decodeIteration(chunk, t, { header, model, layered, coder, grid, picture }) {
  if (t === 1 && chunk.mode === CODED && chunk.payload.length < shortestFirstPayload(model.tables, header.codeChannels, header.rows, header.columns)) {
    throw new DamageError(`iteration 1: its ${chunk.payload.length} bytes are too few for ${header.rows * header.columns} blocks' codes (a file claiming a larger image?)`, 0);
  }
  const stageLayer = layered && t > model.stage.after;
  let bits, count;
  try {
    if (stageLayer) {
      if (chunk.mode !== CODED) throw new Error(`a layer is range-coded (mode ${CODED}), not mode ${chunk.mode}`);
      count = coder.decodeLayer(chunk.payload);
    } else {
      bits = grid.decode(chunk.mode, chunk.payload);
    }
  } catch (e) {
    throw new DamageError(`iteration ${t}: its codes do not decode (${e.name}: ${e.message})`, t - 1);
  }
  if (stageLayer) picture.layer(count, coder.codes);
  else if (model.stage && t > model.stage.after) picture.stageStep(bits, t);
  else await picture.networkStep(bits, t);
}
