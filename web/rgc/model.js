// A shipped model for the web decoder: the registry (models/registry.json: model id → weights file),
// the network's decoder step graphs with its weights bound, the entropy coder tables and, for a
// block stage file, the stage, the network it extends (checked by SHA-256, as the Python does) and
// the post-filter it may carry.

import { SafeTensors, WeightsError } from "./safetensors.js";
import { BlockStage } from "./stage.js";
import { ternaryContexts } from "./layered.js";
import { bindParameters } from "./onnx-bind.js";
import { PostFilter, hasPostFilter } from "./postfilter.js";
import { PARTNERS, CONTEXTS_PER_CHANNEL, uniformTables } from "./entropy.js";

export { WeightsError };
const FORMAT_TAG = "rnncodec-weights-1";
const STAGE_TAG = "rnncodec-block-stage-1";
const GRAPH_FORMAT = "rnncodec-step-graph-1";
const DECODER_GRAPHS = ["decoder-first", "decoder"];
const SESSION_OPTIONS = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };

/** A valid file made by a model the models folder does not carry. */
export class UnknownModelError extends Error {}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new WeightsError(`cannot fetch ${url} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

async function sha256(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const registries = new Map();
const models = new Map();

/** The registry of the models folder at `base` (a URL ending in /). */
export function loadRegistry(base) {
  if (!registries.has(base)) {
    registries.set(base, fetch(new URL("registry.json", base)).then(async (r) => {
      if (!r.ok) throw new WeightsError(`cannot read the model registry ${new URL("registry.json", base)} (HTTP ${r.status})`);
      return r.json();
    }));
  }
  return registries.get(base);
}

/** The model with this id (hex), loaded once per page: {id, cfg, tables, stage, postfilter, session, file}. */
export function loadModel(base, id, ort) {
  const key = `${base} ${id}`;
  if (!models.has(key)) {
    const loading = load(base, id, ort);
    loading.catch(() => models.delete(key));
    models.set(key, loading);
  }
  return models.get(key);
}

async function load(base, id, ort) {
  const registry = await loadRegistry(base);
  const entry = registry.models[id];
  if (!entry) {
    throw new UnknownModelError(`made by model ${id}, which this release does not carry (the models folder has ${Object.keys(registry.models).join(", ")})`);
  }
  const file = new SafeTensors(await fetchBytes(new URL(entry.file, base)), entry.file);
  const format = file.meta("format");
  let network = file, networkFile = entry.file, stage = null, postfilter = null;
  if (format === STAGE_TAG) {
    const named = file.meta("network");
    networkFile = named.file.split("/").pop();
    const bytes = await fetchBytes(new URL(networkFile, base));
    if ((await sha256(bytes)) !== named.sha256) {
      throw new WeightsError(`${entry.file}: its network weights ${networkFile} are not the file the stage was made for`);
    }
    network = new SafeTensors(bytes, networkFile);
    stage = new BlockStage(file);
    if (hasPostFilter(file)) postfilter = await PostFilter.load(file, new URL(entry.file, base), ort, SESSION_OPTIONS);
  } else if (format !== FORMAT_TAG) {
    throw new WeightsError(`${entry.file}: not an rnncodec weights file`);
  }
  const cfg = network.meta("config");
  if (stage && (cfg.gamma !== 1 || stage.signBits + 1 !== cfg.code_channels || stage.after + stage.levels < cfg.max_iterations)) {
    throw new WeightsError(`${entry.file}: a block stage for iterations ${stage.after + 1}–${stage.after + stage.levels} does not fit its network`);
  }
  const tables = readTables(file, cfg.code_channels);
  const session = decoderSessions(base, networkFile, network, ort);
  await session("decoder-first"); // a model that loads at all loads before the first iteration
  return { id, cfg, tables, stage, postfilter, session, file: entry.file };
}

/** The coder tables a weights or stage file stores (rnncodec.weights.load_coder_tables), or uniform ones. */
function readTables(file, channels) {
  if (!file.has("coder.partners")) return uniformTables(channels);
  const partners = file.int32("coder.partners"), prior = file.int32("coder.prior");
  if (partners.length !== channels * PARTNERS || prior.length !== channels * CONTEXTS_PER_CHANNEL * 2) {
    throw new WeightsError(`${file.name}: bad entropy coder tables: entropy coder tables have the wrong shape`);
  }
  const stagePrior = file.has("coder.stage_prior") ? file.int32("coder.stage_prior") : null; // coder 4's, for a ternary stage
  if (stagePrior && stagePrior.length !== ternaryContexts(channels - 1) * 2) {
    throw new WeightsError(`${file.name}: bad entropy coder tables: the stage prior has ${stagePrior.length / 2} contexts, coder 4 has ${ternaryContexts(channels - 1)}`);
  }
  return { partners, prior, stagePrior };
}

/** The network's two decoder step graphs (beside its weights) as ONNX Runtime sessions with the weights
 * bound: `session(graph)` makes each when first asked for (the first iteration needs only "decoder-first"). */
function decoderSessions(base, networkFile, network, ort) {
  const stem = networkFile.replace(/\.safetensors$/, "");
  const cache = new Map();
  const lookup = (name) => {
    if (!network.has(name)) return null;
    if (!cache.has(name)) cache.set(name, network.float32(name));
    return cache.get(name);
  };
  const sessions = {};
  const make = async (graph) => {
    const bytes = await fetchBytes(new URL(`${stem}.${graph}.onnx`, base));
    let bound;
    try {
      bound = bindParameters(bytes, lookup);
    } catch (e) {
      throw new WeightsError(`the ${graph} graph does not load with these weights: ${e.message}`);
    }
    if (bound.props.format !== GRAPH_FORMAT) throw new WeightsError(`the ${graph} graph is not an rnncodec step graph of format ${GRAPH_FORMAT}`);
    return ort.InferenceSession.create(bound.model, SESSION_OPTIONS);
  };
  return (graph) => {
    if (!DECODER_GRAPHS.includes(graph)) throw new Error(`no ${graph} graph`);
    if (!sessions[graph]) {
      sessions[graph] = make(graph);
      sessions[graph].catch(() => delete sessions[graph]);
    }
    return sessions[graph];
  };
}
