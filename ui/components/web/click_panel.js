// The latent map's click panel, drawn by the browser at the click: what the clicked z is and,
// for a test point, its original, its reconstruction, mu, sigma, KL and the decodes of
// z = mu + sigma * eps, whose dots the map layer draws. Mounted by ui/components/click_panel.py
// under the decoded picture (web/map_decoder.js, whose decoder it runs: lib/networks.js); the
// click comes from web/map_layer.js ("vx-map-click"), which tells the server later.
//
// data: a frame (lib/frame.js) with header {id, data, n, cols, image_shape, class_names,
// target, decoder (its network id), likelihood, pixels, clicked, index, seed, n_samples} and,
// when header.data, the arrays mu (N x 2), sigma (N x 2), labels (N, NaN: none) and png (the
// sheet of the test pictures: picture i at row i / cols, column i % cols). The data are kept
// by their content id (header.id), so later payloads carry the header only; a header whose
// data are not here asks ("need").
import { parseFrame } from "./lib/frame.js";
import { keep } from "./lib/lru.js";
import { expectation } from "./lib/net.js";
import { loadNetwork } from "./lib/networks.js";
import { greyLevels } from "./lib/picture.js";
import { mark, mountOnce, store } from "./lib/registry.js";

const CACHE_SIZE = 3; // test sets kept (Fashion-MNIST's 10k: 4.4 MB of PNG, 7.8 MB of levels)
const STRIP_GAP = 4; // px of white between the sample pictures, as ui/latent_images.strip_image
const DECODER_WAIT = 150; // ms between looks for the decoder's weights while they load
const MUTED = "rgba(49,51,63,0.6)";

export function mulberry32(seed) {
  // A uint32 generator, uniform draws (u + 0.5) / 2^32 in (0, 1); ui/latent_panel.epsilon.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

export function epsilon(seed, index, count) {
  // count draws of eps ~ N(0, I) (2-D) for test point `index`: Box-Muller over mulberry32
  // seeded with (seed * 100003 + index) mod 2^32, the same numbers as the server's.
  const draw = mulberry32(Number((BigInt(seed) * 100003n + BigInt(index)) % 4294967296n));
  const eps = [];
  for (let k = 0; k < count; k++) {
    const u1 = draw();
    const u2 = draw();
    const r = Math.sqrt(-2 * Math.log(u1));
    eps.push([r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2)]);
  }
  return eps;
}

export function klDivergence(mu, sigma) {
  // KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum(sigma^2 + mu^2 - 1 - log sigma^2), in nats.
  let kl = 0;
  for (let d = 0; d < mu.length; d++) {
    const s2 = sigma[d] * sigma[d];
    kl += s2 + mu[d] * mu[d] - 1 - Math.log(s2);
  }
  return kl / 2;
}

export function labelText(header, value) {
  // " · <class name>", " · label <value>", or "" (no labels): as ui/latent_panel.point_label.
  if (Number.isNaN(value)) return "";
  if (header.class_names) return ` · ${header.class_names[value] ?? value}`;
  return ` · label ${Number(value.toPrecision(6))}`;
}

export function loadPanel(bytes) {
  // The payload -> { header, entry }: entry { data, sheet (a promise of the decoded PNG) },
  // sent now or kept from before; null when neither.
  const { header, arrays } = parseFrame(bytes);
  const sent = header.data ? { data: arrays, sheet: decodeSheet(arrays.png) } : null;
  return { header, entry: keep(store("clickAtlas"), header.id, sent, CACHE_SIZE) };
}

async function decodeSheet(png) {
  // The PNG sheet -> { levels (grey, one byte a pixel), width }, decoded once per test set.
  const bitmap = await createImageBitmap(new Blob([png], { type: "image/png" }), {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const levels = new Uint8ClampedArray(bitmap.width * bitmap.height);
  for (let i = 0; i < levels.length; i++) levels[i] = rgba[4 * i];
  return { levels, width: bitmap.width };
}

export function sheetPicture(sheet, header, i) {
  // Test picture i's grey levels (h x w), cut out of the sheet.
  const [h, w] = header.image_shape;
  const row = Math.floor(i / header.cols);
  const col = i % header.cols;
  const out = new Uint8ClampedArray(h * w);
  for (let y = 0; y < h; y++) {
    const start = (row * h + y) * sheet.width + col * w;
    out.set(sheet.levels.subarray(start, start + w), y * w);
  }
  return out;
}

function pictures(levelsList, [h, w], scale, gap) {
  // Grey pictures side by side on one canvas, upscaled nearest-neighbour, white between.
  const canvas = document.createElement("canvas");
  canvas.width = levelsList.length * (w * scale + gap) - gap;
  canvas.height = h * scale;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  img.data.fill(255);
  levelsList.forEach((levels, k) => {
    const left = k * (w * scale + gap);
    for (let y = 0; y < canvas.height; y++) {
      for (let x = 0; x < w * scale; x++) {
        const v = levels[Math.floor(y / scale) * w + Math.floor(x / scale)];
        const p = 4 * (y * canvas.width + left + x);
        img.data[p] = img.data[p + 1] = img.data[p + 2] = v;
      }
    }
  });
  ctx.putImageData(img, 0, 0);
  return canvas;
}

function el(tag, css, text) {
  const node = document.createElement(tag);
  if (css) node.style.cssText = css;
  if (text !== undefined) node.textContent = text; // data-borne text is never markup
  return node;
}

function figure(canvas, caption, name) {
  // As wide as its picture, so that a long caption wraps under it instead of widening it
  // (the original and the reconstruction side by side in a narrow column).
  const fig = el("figure", `margin:0;width:min(100%, ${canvas.width}px);`);
  canvas.className = `vx-cp-${name}`;
  canvas.setAttribute("aria-label", caption);
  // Never wider than the column (the strip at a projector's size): scaled down, crisp.
  canvas.style.cssText = "display:block;max-width:100%;height:auto;image-rendering:pixelated;";
  fig.append(canvas, el("figcaption", `font-size:0.875rem;color:${MUTED};margin-top:0.25rem;`, caption));
  return fig;
}

function waitingNotice(target) {
  // The click the map layer has not told the server of yet (it is newer than the header's).
  for (const notice of store("mapNotices").values())
    if (notice.target === target) return notice.click;
  return null;
}

export default function mountClickPanel({ data, key, parentElement, setTriggerValue, setStateValue }) {
  return mountOnce(key, () => mount(loadPanel(data), parentElement, setTriggerValue, setStateValue));
}

function mount({ header, entry }, parentElement, setTriggerValue, setStateValue) {
  if (!entry) setTriggerValue("need", header.id);
  const [h, w] = header.image_shape;
  const pixels = header.pixels;
  let seed = header.seed;
  let live = true;
  let retry = null;
  let shown = null; // { z, index }

  const root = el("div", "display:flex;flex-direction:column;gap:0.75rem;margin-top:0.5rem;");
  root.className = "vx-click-panel";
  parentElement.replaceChildren(root);

  const decoder = () => {
    // The map decoder's network, kept by the map decoder's payload (null: still on its way).
    const ops = loadNetwork({ id: header.decoder, weights: false }, null);
    return ops && ((z) => greyLevels(expectation(ops, header.likelihood, z)));
  };

  async function draw(click) {
    // Everything the panel shows for this click; data-complete once every picture is there.
    clearTimeout(retry);
    shown = click;
    root.dataset.complete = "false";
    root.dataset.shown = JSON.stringify(click ? { z: click.z, index: click.index, seed } : null);
    if (!click) return root.replaceChildren();
    const [zx, zy] = click.z;
    const index = click.index;
    const point = index !== null && index !== undefined && index >= 0 && index < header.n;
    if (point && !entry) {
      // The test set's data are on their way (this payload asked): the rest when they come.
      root.replaceChildren(el("p", "margin:0;"), el("p", `margin:0;color:${MUTED};`, "loading the test pictures…"));
      root.firstChild.append(el("strong", "", `test point #${index}`));
      return;
    }
    if (!point) {
      root.replaceChildren(
        el("p", "margin:0;", ""),
        el("p", `margin:0;font-size:0.875rem;color:${MUTED};`,
          "No example was encoded here: the picture above is what the decoder imagines at z."),
      );
      root.firstChild.append(el("strong", "", `z = (${zx.toFixed(3)}, ${zy.toFixed(3)})`),
        " · empty space or a chosen point");
      window.dispatchEvent(new CustomEvent("vx-map-samples", { detail: { target: header.target, samples: [] } }));
      root.dataset.complete = "true";
      return;
    }
    const { mu, sigma, labels } = entry.data;
    const m = [mu[2 * index], mu[2 * index + 1]];
    const s = [sigma[2 * index], sigma[2 * index + 1]];
    const kl = klDivergence(m, s);
    const eps = epsilon(seed, index, header.n_samples);
    const samples = eps.map(([a, b]) => [m[0] + s[0] * a, m[1] + s[1] * b]); // reparameterisation
    window.dispatchEvent(new CustomEvent("vx-map-samples", { detail: { target: header.target, samples } }));
    const title = el("p", "margin:0;");
    title.append(el("strong", "", `test point #${index}`), labelText(header, labels[index]));
    const numbers = el("p", "margin:0;",
      `μ = (${m[0].toFixed(3)}, ${m[1].toFixed(3)}) · σ = (${s[0].toFixed(3)}, ${s[1].toFixed(3)}) · KL ${kl.toFixed(2)} nats`);
    numbers.className = "vx-cp-numbers";
    numbers.dataset.kl = String(kl);
    numbers.dataset.mu = JSON.stringify(m);
    numbers.dataset.sigma = JSON.stringify(s);
    const decode = decoder();
    const sheet = await entry.sheet;
    if (!live || shown !== click) return; // a newer click took over while the sheet decoded
    const pairScale = Math.max(1, Math.floor(Math.min(pixels, 112) / Math.max(h, w)));
    const stripScale = Math.max(1, Math.floor(Math.max(56, pixels / 4) / Math.max(h, w)));
    const original = figure(pictures([sheetPicture(sheet, header, index)], [h, w], pairScale, 0),
      "original x", "original");
    const parts = [title, numbers];
    if (!decode) {
      // The decoder's weights are still on their way (map_decoder asked): draw what is here,
      // and the pictures from the decoder as soon as they come.
      root.replaceChildren(...parts, original);
      retry = setTimeout(() => live && shown === click && draw(click), DECODER_WAIT);
      return;
    }
    const pair = el("div", "display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-start;");
    pair.append(original,
      figure(pictures([decode(m)], [h, w], pairScale, 0), "reconstruction: decoded from μ", "reconstruction"));
    const strip = figure(pictures(samples.map(decode), [h, w], stripScale, STRIP_GAP),
      samples.map(([a, b]) => `(${a.toFixed(2)}, ${b.toFixed(2)})`).join(" · "), "samples");
    strip.firstChild.dataset.samples = JSON.stringify(samples);
    const button = el("button",
      "align-self:flex-start;font:inherit;font-size:0.875rem;padding:0.25rem 0.75rem;" +
      "border:1px solid rgba(49,51,63,0.2);border-radius:0.5rem;background:#fff;cursor:pointer;",
      "⚄ New ε");
    button.type = "button";
    button.addEventListener("click", () => {
      seed += 1;
      draw(shown);
      if (setStateValue) setStateValue("seed", seed);
    });
    root.replaceChildren(...parts, pair,
      el("p", `margin:0;font-size:0.875rem;color:${MUTED};`,
        "z = μ + σ ⊙ ε, ε ~ N(0, I): the reparameterisation, decoded (the orange dots in the bubble on the map)"),
      strip, button);
    root.dataset.complete = "true";
    mark(`vx:click-panel:${header.target}`, { index, z: click.z, seed, samples });
  }

  const onClick = (e) => {
    if (!e.detail || e.detail.target !== header.target) return;
    draw(e.detail.z ? { z: e.detail.z, index: e.detail.index ?? null } : null);
  };
  window.addEventListener("vx-map-click", onClick);
  const waiting = waitingNotice(header.target);
  if (waiting) draw({ z: [waiting.x, waiting.y], index: waiting.index });
  else draw(header.clicked ? { z: header.clicked, index: header.index } : null);

  return () => {
    live = false;
    clearTimeout(retry);
    window.removeEventListener("vx-map-click", onClick);
  };
}
