// onnxruntime-web (WebAssembly backend), from web/node_modules (`npm ci` in web/).
import * as ort from "../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
ort.env.logLevel = "error";
// Every core the browser offers (onnxruntime-web takes half by default); threads need a cross-origin
// isolated page (rnncodec view sends the headers), else it runs on one.
ort.env.wasm.numThreads = Math.max(1, Math.min(8, globalThis.navigator?.hardwareConcurrency || 1));

export { ort };
