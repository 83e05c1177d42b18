// onnxruntime-web (WebAssembly backend), from web/node_modules (`npm ci` in web/).
import * as ort from "../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";

ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
ort.env.logLevel = "error";

export { ort };
