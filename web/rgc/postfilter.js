// A model's post-filter (rnncodec.postfilter): a small convolutional network a block stage file may
// carry, run on every decoded picture. Its ONNX graph lies beside the stage file (NAME.postfilter.onnx)
// and gets the file's `postfilter.*` tensors bound in at load; it takes the picture (1, 3, H, W) as
// float32 values 0–255 and the iteration count t, and gives the picture filtered, rounded and clamped
// to 0–255. Tall pictures are filtered in strips with a halo, as the Python decoder does: the same
// pictures as one call on the whole, in bounded memory.

import { WeightsError } from "./safetensors.js";
import { bindParameters } from "./onnx-bind.js";

const BLOCK = 16;
const PREFIX = "postfilter."; // the filter's tensors in a block stage file
const METADATA = "postfilter"; // its settings in the stage file's metadata
const GRAPH_FORMAT = "rnncodec-postfilter-graph-1";
const STRIP_PIXELS = 1 << 20; // pictures are filtered in strips of about this many pixels
const HALO = BLOCK; // rows of context above and below a strip

/** Whether a block stage file (SafeTensors) carries a post-filter. */
export function hasPostFilter(file) {
  return file.meta(METADATA) !== undefined;
}

/** The file name of a stage file's post-filter graph: NAME.postfilter.onnx beside NAME.safetensors. */
export function graphName(stageFile) {
  return `${stageFile.replace(/\.safetensors$/, "")}.postfilter.onnx`;
}

/** (start, stop) rows of the strips a height × width picture is filtered in (rnncodec.postfilter.strips). */
export function strips(height, width) {
  const rows = Math.max(BLOCK, Math.floor(Math.floor(STRIP_PIXELS / Math.max(width, 1)) / BLOCK) * BLOCK);
  const out = [];
  for (let y = 0; y < height; y += rows) out.push([y, Math.min(y + rows, height)]);
  return out;
}

export class PostFilter {
  /** `session`: the graph on ONNX Runtime with its parameters bound. */
  constructor(session, ort) {
    this.session = session; this.ort = ort;
  }

  /** The stage file's post-filter (`file`: its SafeTensors, at `url`), its graph fetched from beside it
   * and made a session with `options`; WeightsError if its parameters or graph are missing or do not load. */
  static async load(file, url, ort, options) {
    const graph = graphName(file.name.split("/").pop());
    const params = file.names().filter((name) => name.startsWith(PREFIX));
    const values = new Map(params.map((name) => [name, file.float32(name)])); // float16 widened, as the stage's
    if (!params.length || ![...values.values()].every((v) => v.every(Number.isFinite))) {
      throw new WeightsError(`${file.name}: bad post-filter: its parameters are missing or not finite`);
    }
    const response = await fetch(new URL(graph, url));
    if (!response.ok) throw new WeightsError(`${file.name}: its post-filter graph ${graph} cannot be read (HTTP ${response.status})`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    let session;
    try {
      const bound = bindParameters(bytes, (name) => values.get(name) || null);
      if (bound.props.format !== GRAPH_FORMAT) throw new Error(`it is not an rnncodec post-filter graph of format ${GRAPH_FORMAT}`);
      session = await ort.InferenceSession.create(bound.model, options);
    } catch (e) {
      throw new WeightsError(`${file.name}: the post-filter graph ${graph} does not load with its parameters: ${e.message}`);
    }
    return new PostFilter(session, ort);
  }

  /** The picture after t iterations, planes (3, height, width) of 8-bit values as float32, filtered:
   * the same layout, values 0–255 whole. */
  async apply(planes, height, width, t) {
    const { session, ort } = this;
    const out = new Float32Array(3 * height * width);
    for (const [start, stop] of strips(height, width)) {
      const top = Math.max(start - HALO, 0), bottom = Math.min(stop + HALO, height), rows = bottom - top;
      const image = new Float32Array(3 * rows * width);
      for (let c = 0; c < 3; c++) image.set(planes.subarray((c * height + top) * width, (c * height + bottom) * width), c * rows * width);
      const result = await session.run({
        image: new ort.Tensor("float32", image, [1, 3, rows, width]),
        t: new ort.Tensor("int64", BigInt64Array.from([BigInt(t)]), []),
      });
      const filtered = result[session.outputNames[0]];
      for (let c = 0; c < 3; c++) {
        const from = (c * rows + start - top) * width;
        out.set(filtered.data.subarray(from, from + (stop - start) * width), (c * height + start) * width);
      }
      filtered.dispose?.();
    }
    return out;
  }
}
