// The picture after each iteration: the network's decoder steps on ONNX Runtime (tile by tile, each
// tile with its own recurrent state, as rnncodec.codec.ModelPipeline.reconstruct runs them), then a
// block stage's refinements, the model's post-filter if it has one, and the conversion to 8-bit RGBA
// as the Python decoder rounds it.

const BLOCK = 16;
const f = Math.fround;

/** Round half to even (numpy.round). */
function roundEven(v) {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export class Reconstruction {
  constructor(model, header, ort) {
    this.model = model; this.header = header; this.ort = ort;
    this.H = header.rows * BLOCK; this.W = header.columns * BLOCK;
    this.recon = new Float32Array(3 * this.H * this.W);
    this.lastIncrement = null; // the network's x̂_K − x̂_{K−1}, for the stage's start scales
    this.scales = null;
    this.tiles = [];
    for (let y = 0; y < this.H; y += header.tile) {
      for (let x = 0; x < this.W; x += header.tile) {
        this.tiles.push({ y, x, h: Math.min(header.tile, this.H - y), w: Math.min(header.tile, this.W - x), state: null });
      }
    }
    this.stageLevel = new Int32Array(header.rows * header.columns); // layered files: refinements applied per block
  }

  /** Iteration t of the network: bits (C, h, w) 0/1 for the whole image. */
  async networkStep(bits, t) {
    const { ort, H, W, header } = this;
    const C = header.codeChannels, rows = header.rows, columns = header.columns;
    const gamma = this.model.cfg.gamma;
    const keepIncrement = this.model.stage && t === this.model.stage.after;
    if (keepIncrement) this.lastIncrement = new Float32Array(3 * H * W);
    for (const tile of this.tiles) {
      const th = tile.h / BLOCK, tw = tile.w / BLOCK, r0 = tile.y / BLOCK, c0 = tile.x / BLOCK;
      const input = new Float32Array(C * th * tw);
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < th; y++) {
          for (let x = 0; x < tw; x++) input[(c * th + y) * tw + x] = bits[(c * rows + r0 + y) * columns + c0 + x] ? 1 : -1;
        }
      }
      const graph = tile.state ? "decoder" : "decoder-first";
      const session = await this.model.session(graph);
      const feeds = {
        bits: new ort.Tensor("float32", input, [1, C, th, tw]),
        t: new ort.Tensor("int64", BigInt64Array.from([BigInt(t)]), []),
      };
      if (tile.state) for (const [name, value] of Object.entries(tile.state)) feeds[name] = value;
      const out = await session.run(feeds);
      const delta = out[session.outputNames[0]].data;
      const state = {};
      for (const name of session.outputNames.slice(1)) state[name.replace(/^new_/, "")] = out[name];
      if (tile.state) for (const value of Object.values(tile.state)) value.dispose?.();
      tile.state = state;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < tile.h; y++) {
          const at = (c * H + tile.y + y) * W + tile.x, from = (c * tile.h + y) * tile.w;
          for (let x = 0; x < tile.w; x++) {
            const d = delta[from + x];
            this.recon[at + x] = t === 1 ? d : f(d + f(gamma * this.recon[at + x]));
            if (keepIncrement) this.lastIncrement[at + x] = d;
          }
        }
      }
    }
  }

  /** Iteration t > K of a coder-2 file with a block stage: every block gets stage level t − K. */
  stageStep(bits, t) {
    const stage = this.model.stage;
    const { header, H, W } = this;
    const blocks = header.rows * header.columns, C = header.codeChannels;
    if (t === stage.after + 1) this.scales = stage.startScales(this.lastIncrement, H, W);
    for (let b = 0; b < blocks; b++) stage.refine(this.recon, H, W, this.scales, b, t - stage.after - 1, (j) => bits[j * blocks + b]);
  }

  /** A layer of a layered (coder 3 or 4) file: each block's next `count[b]` refinements, their bits in codes (L, C, h, w). */
  layer(count, codes) {
    const stage = this.model.stage;
    const { header, H, W } = this;
    const blocks = header.rows * header.columns, C = header.codeChannels;
    if (!this.scales) this.scales = stage.startScales(this.lastIncrement, H, W);
    for (let b = 0; b < blocks; b++) {
      for (let n = 0; n < count[b]; n++) {
        const l = this.stageLevel[b]++;
        const base = l * C * blocks + b;
        stage.refine(this.recon, H, W, this.scales, b, l % stage.levels, (j) => codes[base + j * blocks]);
      }
    }
  }

  /** The picture after iteration t, RGBA (width × height × 4), as the Python decoder gives it: the
   * model's post-filter applied where it has one, gray modes as the rounded mean of the three planes,
   * the alpha plane where the file has one, else opaque. */
  async pixels(alpha, t) {
    const { header } = this;
    const { width, height } = header;
    const gray = header.mode === "L" || header.mode === "LA";
    let rgb = this.levels();
    if (this.model.postfilter) rgb = await this.model.postfilter.apply(rgb, height, width, t);
    const out = new Uint8ClampedArray(width * height * 4);
    const plane = width * height;
    for (let at = 0; at < plane; at++) {
      const o = 4 * at;
      let r = rgb[at], g = rgb[plane + at], b = rgb[2 * plane + at];
      if (gray) r = g = b = roundEven(f((r + g + b) / 3));
      out[o] = r; out[o + 1] = g; out[o + 2] = b;
      out[o + 3] = alpha ? alpha[at] : 255;
    }
    return out;
  }

  /** The picture's 8-bit values, planes (3, height, width) cropped to the header's size, as float32. */
  levels() {
    const { header, H, W } = this;
    const { width, height } = header;
    const out = new Float32Array(3 * width * height);
    const level = (v) => { // as rnncodec.engines.network_to_image rounds it
      const s = v < -0.5 ? -0.5 : v > 0.5 ? 0.5 : v;
      const r = roundEven(f(f(s + 0.5) * 255));
      return r < 0 ? 0 : r > 255 ? 255 : r;
    };
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < height; y++) {
        const from = (c * H + y) * W, to = (c * height + y) * width;
        for (let x = 0; x < width; x++) out[to + x] = level(this.recon[from + x]);
      }
    }
    return out;
  }
}
