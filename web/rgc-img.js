// <rgc-img src="photo.rgc">: streams an .rgc file with fetch and paints a <canvas> after every
// iteration (see web/README.md). Attributes: src, iterations (stop after K), models (the models
// folder; default ../models/ beside web/). After each painted iteration it sets painted="K" and
// fires `iteration` (detail: {iteration, iterations, bytes}); when done, `load`; a refused, damaged
// or truncated file shows its message in the element and fires `error` (detail: {message, kind,
// painted}), the canvas keeping the last intact iteration.

import { ort } from "./rgc/ort.js";
import { decode, DamageError, FormatError, TruncatedError, UnknownModelError, WeightsError } from "./rgc/decoder.js";

const DEFAULT_MODELS = new URL("../models/", import.meta.url).href;

const STYLE = `
:host { display: inline-block; position: relative; }
canvas { display: block; max-width: 100%; height: auto; }
.message { font: 13px/1.4 system-ui, sans-serif; color: #a00; padding: 4px 0; }
.message:empty { display: none; }
`;

function kindOf(error) {
  if (error instanceof TruncatedError) return "truncated";
  if (error instanceof DamageError) return "damaged";
  if (error instanceof UnknownModelError) return "unknown-model";
  if (error instanceof FormatError) return "format";
  if (error instanceof WeightsError) return "weights";
  if (error instanceof TypeError) return "network";
  return "error";
}

export class RgcImg extends HTMLElement {
  static observedAttributes = ["src", "iterations", "models"];

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style><canvas part="canvas" width="0" height="0"></canvas><div class="message" part="message"></div>`;
    this.canvas = root.querySelector("canvas");
    this.messageBox = root.querySelector(".message");
    this.painted = 0;
    this.bytesReceived = 0;
    this.header = null;
    this.imageData = null; // the last painted iteration's RGBA, as decoded (not premultiplied)
    this.controller = null;
  }

  get src() { return this.getAttribute("src") || ""; }
  set src(value) { this.setAttribute("src", value); }
  get iterations() { return Number(this.getAttribute("iterations")) || 0; }
  set iterations(value) { this.setAttribute("iterations", String(value)); }

  connectedCallback() {
    this.start();
  }

  disconnectedCallback() {
    this.controller?.abort();
  }

  attributeChangedCallback(name, before, after) {
    if (before !== after && this.isConnected) this.start();
  }

  start() {
    this.controller?.abort();
    this.painted = 0;
    this.bytesReceived = 0;
    this.header = null;
    this.imageData = null;
    this.removeAttribute("painted");
    this.messageBox.textContent = "";
    if (!this.src) return;
    const controller = (this.controller = new AbortController());
    this.run(controller).catch((error) => {
      if (controller.signal.aborted) return;
      this.messageBox.textContent = error.message;
      this.dispatchEvent(new CustomEvent("error", { detail: { message: error.message, kind: kindOf(error), painted: this.painted } }));
    });
  }

  async run(controller) {
    const { signal } = controller;
    const response = await fetch(new URL(this.src, document.baseURI), { signal });
    if (!response.ok) throw new TypeError(`cannot fetch ${this.src} (HTTP ${response.status})`);
    const reader = response.body.getReader();
    const source = {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          yield value;
        }
      },
      cancel: () => reader.cancel().catch(() => {}),
    };
    const result = await decode(source, {
      models: new URL(this.getAttribute("models") || DEFAULT_MODELS, document.baseURI).href,
      ort,
      iterations: this.iterations,
      onBytes: (received) => {
        if (!signal.aborted && received !== this.bytesReceived) {
          this.bytesReceived = received;
          this.dispatchEvent(new CustomEvent("progress", { detail: { bytes: received } }));
        }
      },
      onHeader: (header) => {
        this.header = header;
        this.canvas.width = header.width;
        this.canvas.height = header.height;
      },
      onIteration: ({ iteration, pixels, bytes, header }) => {
        if (signal.aborted) throw new DOMException("aborted", "AbortError");
        this.paint(pixels, header);
        this.painted = iteration;
        this.setAttribute("painted", String(iteration));
        this.dispatchEvent(new CustomEvent("iteration", { detail: { iteration, iterations: header.iterations, bytes } }));
      },
    });
    if (!signal.aborted) this.dispatchEvent(new CustomEvent("load", { detail: { painted: result.painted } }));
  }

  paint(pixels, header) {
    this.imageData = new ImageData(pixels, header.width, header.height);
    this.canvas.getContext("2d").putImageData(this.imageData, 0, 0);
  }
}

if (!customElements.get("rgc-img")) customElements.define("rgc-img", RgcImg);
