// onnxruntime-web (WebAssembly backend), from web/node_modules (`npm ci` in web/).
import * as ort from "../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
ort.env.logLevel = "error";
// Threads: every core the browser offers (up to 4), as the Python decoder uses every core, when the
// page is cross-origin isolated (rnncodec view sends the headers); else one.
if (globalThis.crossOriginIsolated) {
  ort.env.wasm.numThreads = Math.min(4, globalThis.navigator?.hardwareConcurrency || 1);
}

// The network runs in a worker, so the page stays responsive (and paints) while it computes.
ort.env.wasm.proxy = true;

export { ort };
