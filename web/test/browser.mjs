// Drives headless Chromium (puppeteer-core) through <rgc-img> decodes for the Python tests and the
// benchmark: node browser.mjs JOBS.json OUT_DIR. JOBS.json: {chromium, page, jobs: [{name, src,
// iterations?, release?}]}. One page (so each model loads once) decodes the jobs in turn; for each
// it writes OUT_DIR/NAME-K.canvas (the canvas read back, RGBA) and NAME-K.decoded (the element's
// RGBA before the canvas) for every painted iteration K, and prints one JSON line of results:
// the events in order with their times (ms since the element was made), painted, the error.
// `release`: a URL the page fetches once iteration 1 is painted (a slow server's cue to send the rest);
// `capture: false`: no frames (timing only: reading the canvas back takes time); `reload: true`: load
// the page again first (a returning visitor: the browser's caches kept, the page's model gone).

import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const [jobsFile, outDir] = process.argv.slice(2);
const { chromium, page: pageUrl, jobs, timeout = 120000 } = JSON.parse(fs.readFileSync(jobsFile, "utf8"));
fs.mkdirSync(outDir, { recursive: true });

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
const results = [];
try {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(`page error: ${e.message}`));
  await page.goto(pageUrl, { waitUntil: "load" });
  await page.waitForFunction(() => customElements.get("rgc-img") !== undefined, { timeout });
  for (const job of jobs) {
    if (job.reload) {
      await page.reload({ waitUntil: "load" });
      await page.waitForFunction(() => customElements.get("rgc-img") !== undefined, { timeout });
    }
    const result = await page.evaluate(async ({ src, iterations, models, release, capture = true, timeout }) => {
      const encode = (bytes) => {
        let s = "";
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
      };
      const image = document.createElement("rgc-img");
      if (iterations) image.setAttribute("iterations", String(iterations));
      if (models) image.setAttribute("models", models);
      const start = performance.now();
      const events = [], frames = [];
      const finished = new Promise((resolve) => {
        image.addEventListener("iteration", (e) => {
          const ms = performance.now() - start;
          if (capture) {
            const canvas = image.shadowRoot.querySelector("canvas");
            const read = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            frames.push({ iteration: e.detail.iteration, canvas: encode(read), decoded: encode(image.imageData.data) });
          }
          events.push({ type: "iteration", iteration: e.detail.iteration, painted: image.getAttribute("painted"), bytes: e.detail.bytes, received: image.bytesReceived, ms });
          if (release && e.detail.iteration === 1) fetch(release).catch(() => {});
        });
        image.addEventListener("load", () => { events.push({ type: "load", ms: performance.now() - start }); resolve(); });
        image.addEventListener("error", (e) => {
          events.push({ type: "error", ms: performance.now() - start, ...e.detail });
          resolve();
        });
        setTimeout(() => { events.push({ type: "timeout" }); resolve(); }, timeout);
      });
      image.setAttribute("src", src);
      document.body.append(image);
      await finished;
      const shown = image.shadowRoot.querySelector(".message").textContent;
      const header = image.header && { width: image.header.width, height: image.header.height, mode: image.header.mode, iterations: image.header.iterations };
      image.remove();
      return { events, frames, painted: image.painted, message: shown, header };
    }, { ...job, timeout });
    for (const frame of result.frames) {
      fs.writeFileSync(path.join(outDir, `${job.name}-${frame.iteration}.canvas`), Buffer.from(frame.canvas, "base64"));
      fs.writeFileSync(path.join(outDir, `${job.name}-${frame.iteration}.decoded`), Buffer.from(frame.decoded, "base64"));
    }
    delete result.frames;
    results.push({ name: job.name, ...result });
  }
  console.log(JSON.stringify({ results, logs }));
} finally {
  await browser.close();
}
