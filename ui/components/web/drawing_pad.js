// The drawing pad (mounted by ui/components/drawing_pad.py): draw with mouse, pen or touch;
// while you draw, the drawing is framed like the training images, encoded in the browser
// (the encoder's weights come once per session and model), and its mu with the 1 sigma / 2 sigma
// ellipse moves on a small latent map while the decoder draws its reconstruction (both
// networks run in lib/net.js, the Latent map's decoder too). Python hears of the drawing
// only when a stroke ends (setStateValue "image"): one rerun per stroke, none per move.
//
// data: a frame (lib/frame.js) whose header names the encoder {id, weights, ops, posterior}
// and the decoder {id, weights, ops}, with the arrays "encoder" and "decoder" when their
// weights follow. header.encoder null: the browser cannot run this encoder, and
// header.server holds the server's mu, sigma and reconstruction of the current input
// instead (a round trip per stroke).
import { replaceRoot } from "./lib/dom.js";
import { parseFrame } from "./lib/frame.js";
import { squareView } from "./lib/latent.js";
import { expectation, posterior } from "./lib/net.js";
import { loadNetwork } from "./lib/networks.js";
import { greyLevels, paintGrey } from "./lib/picture.js";
import { mark, mountOnce, store } from "./lib/registry.js";
const PAD_PX_BASE = 280; // the drawing surface's CSS size (times header.scale: presenter mode)
const SMALL_PX_BASE = 140; // "what the model sees" and the reconstruction
const MAP_PX_BASE = 280;
const COLUMN_PX = 200; // the pictures' column: its captions are wider than the pictures
const RENDER_PX = 224; // strokes are rendered at about this many px, then area-averaged

export function loadPad(bytes) {
  // The payload -> { header, encoder, decoder }: the encoder's and decoder's ops with their
  // arrays (sent now, or kept from before: lib/networks.js), null when the browser has none.
  const { header, arrays } = parseFrame(bytes);
  return {
    header,
    encoder: loadNetwork(header.encoder, arrays.encoder),
    decoder: loadNetwork(header.decoder, arrays.decoder),
  };
}

export function renderStrokes(strokes, [h, w], framing, penScale = 1) {
  // Strokes [{ points: [[x, y, pressure]] }] in pad units ([0, 1]^2) -> (h*w,) in [0, 1],
  // white on black, framed as viz/image_input.frame frames an upload: the ink's bounding box
  // (the points' box plus the pen) has its longer side at framing.fill of the frame, and is
  // centred. The pen's width is fixed in output pixels (framing.stroke of the frame, as
  // measured on the training images), so a small and a large drawing of one digit come out
  // alike. Rendered at about RENDER_PX with round caps, then area-averaged down to (h, w).
  const x = new Float32Array(h * w);
  const pts = strokes.flatMap((s) => s.points);
  if (!pts.length) return x;
  const side = Math.max(h, w);
  const pen = framing.stroke * side * penScale; // output px
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [px, py] of pts) {
    x0 = Math.min(x0, px);
    x1 = Math.max(x1, px);
    y0 = Math.min(y0, py);
    y1 = Math.max(y1, py);
  }
  const ex = x1 - x0;
  const ey = y1 - y0;
  const scales = [];
  if (ex > 0) scales.push((framing.fill * w - pen) / ex);
  if (ey > 0) scales.push((framing.fill * h - pen) / ey);
  const scale = scales.length ? Math.max(0, Math.min(...scales)) : 0; // output px per pad unit
  const S = Math.max(1, Math.ceil(RENDER_PX / side));
  const canvas = document.createElement("canvas");
  canvas.width = w * S;
  canvas.height = h * S;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = ctx.fillStyle = "#fff";
  ctx.lineCap = ctx.lineJoin = "round";
  const at = ([px, py]) => [S * (w / 2 + (px - (x0 + x1) / 2) * scale), S * (h / 2 + (py - (y0 + y1) / 2) * scale)];
  const width = (p) => S * pen * (p === undefined ? 1 : p);
  for (const { points } of strokes) {
    if (points.length === 1) {
      const [u, v] = at(points[0]);
      ctx.beginPath();
      ctx.arc(u, v, width(points[0][2]) / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    for (let i = 1; i < points.length; i++) {
      ctx.lineWidth = width((points[i - 1][2] + points[i][2]) / 2);
      ctx.beginPath();
      ctx.moveTo(...at(points[i - 1]));
      ctx.lineTo(...at(points[i]));
      ctx.stroke();
    }
  }
  const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  for (let y = 0; y < h * S; y++) {
    for (let xx = 0; xx < w * S; xx++) x[Math.floor(y / S) * w + Math.floor(xx / S)] += rgba[4 * (y * w * S + xx)];
  }
  for (let i = 0; i < x.length; i++) x[i] = Math.min(1, x[i] / (255 * S * S));
  return x;
}

export default function mountDrawingPad({ data, key, parentElement, setStateValue, setTriggerValue }) {
  return mountOnce(key, () => mount(loadPad(data), key, parentElement, setStateValue, setTriggerValue));
}

function mount(pad, key, parentElement, setStateValue, setTriggerValue) {
  const { header } = pad;
  const shape = header.image_shape;
  // The pad, its pictures and the map side by side in whatever width the page gives them (a
  // laptop at 1000 px with the sidebar open put the map under the pad): shrunk together to fit.
  // (The pictures' column does not shrink: its captions keep their size.)
  const base = header.scale || 1;
  const room = (parentElement.clientWidth || Infinity) - (COLUMN_PX * base + 2 * 16);
  const scale = base * Math.min(1, Math.max(0.5, room / ((PAD_PX_BASE + MAP_PX_BASE) * base)));
  const PAD_PX = Math.round(PAD_PX_BASE * scale);
  const SMALL_PX = Math.round(SMALL_PX_BASE * scale);
  const MAP_PX = Math.round(MAP_PX_BASE * scale);
  // The drawing outlives reruns and page visits (not a reload): strokes in pad units, so a
  // drawing made for one model is framed anew for another.
  const states = store("pad drawings");
  if (!states.has(key)) states.set(key, { strokes: [], input: null, inputId: null, pen: 1, zoom: false });
  const state = states.get(key);
  if (header.input && header.input.id !== state.inputId) {
    state.input = header.input; // a new upload replaces the drawing
    state.inputId = header.input.id;
    state.strokes = [];
  } else if (!header.input) {
    state.input = null;
  }

  const root = replaceRoot(parentElement, "vx-pad", `
    <div class="vx-pad-views">
      <figure class="vx-pad-figure"><canvas class="vx-pad-surface" aria-label="Drawing pad: draw with the mouse, a pen or a finger"></canvas>
        <div class="vx-pad-tools">
          <button type="button" class="vx-pad-clear">Clear</button>
          <label>pen <select class="vx-pad-pen" aria-label="Pen width">
            <option value="0.6">thin</option><option value="1">normal</option>
            <option value="1.8">thick</option><option value="3">fill</option></select></label>
        </div></figure>
      <div class="vx-pad-column">
        <figure class="vx-pad-figure"><canvas class="vx-pad-seen"></canvas>
          <figcaption>what the model sees (${shape[0]}×${shape[1]})</figcaption></figure>
        <figure class="vx-pad-figure"><canvas class="vx-pad-recon"></canvas>
          <figcaption>reconstruction E[x | z = μ]</figcaption></figure>
      </div>
      <figure class="vx-pad-figure"><canvas class="vx-pad-map" aria-label="Latent map: the test set's means and your drawing's μ with its 1σ and 2σ ellipses"></canvas>
        <figcaption class="vx-pad-readout" aria-live="off"></figcaption>
        <div class="vx-pad-tools"><label><input type="checkbox" class="vx-pad-zoom"> zoom on μ</label>
          <span class="vx-pad-zoom-note"></span></div>
        <div class="vx-pad-legend"></div></figure>
    </div>
    <div class="vx-pad-note"></div>`);
  const surface = root.querySelector(".vx-pad-surface");
  const seen = root.querySelector(".vx-pad-seen");
  const recon = root.querySelector(".vx-pad-recon");
  const mapCanvas = root.querySelector(".vx-pad-map");
  const readout = root.querySelector(".vx-pad-readout");
  // The map's readout and legend wrap under it rather than widen its column.
  mapCanvas.parentElement.style.maxWidth = `${MAP_PX}px`;
  readout.style.whiteSpace = "pre-wrap";
  const note = root.querySelector(".vx-pad-note");
  const penSelect = root.querySelector(".vx-pad-pen");
  const zoomBox = root.querySelector(".vx-pad-zoom");
  const zoomNote = root.querySelector(".vx-pad-zoom-note");
  const legend = root.querySelector(".vx-pad-legend");
  zoomBox.checked = Boolean(state.zoom);
  penSelect.value = String(state.pen);
  const small = Math.max(1, Math.floor(SMALL_PX / Math.max(...shape)));
  for (const c of [seen, recon]) {
    c.style.width = `${shape[1] * small}px`;
    c.style.height = `${shape[0] * small}px`;
  }
  const ratio = window.devicePixelRatio || 1;
  surface.width = surface.height = PAD_PX * ratio;
  surface.style.width = surface.style.height = `${PAD_PX}px`;
  mapCanvas.width = mapCanvas.height = MAP_PX * ratio;
  mapCanvas.style.width = mapCanvas.style.height = `${MAP_PX}px`;

  // ---- weights missing (evicted, or a payload lost): ask once, by id ----
  const missing = [];
  if (header.encoder && !pad.encoder) missing.push(header.encoder.id);
  if (header.decoder && !pad.decoder) missing.push(header.decoder.id);
  if (missing.length) setTriggerValue("need", missing);
  const encoderReady = Boolean(pad.encoder);
  if (!header.encoder) note.textContent = "This encoder runs on the server: μ and the bubble follow each finished stroke.";
  else if (!encoderReady) note.textContent = "Loading the encoder…";

  // ---- the latent map: the whole test set (background drawn once), or zoomed on μ ----
  // Zoomed, the view is 8 σ wide around μ and follows it: a posterior σ is often a hundredth
  // of the map's width, and its bubble would be a dot.
  const map = header.map;
  const fullBounds = map.bounds;
  const view = (bounds) => squareView(bounds, MAP_PX);
  function paintPoints(m, { toPixel: toMap }) {
    m.fillStyle = "#fff";
    m.fillRect(0, 0, MAP_PX, MAP_PX);
    m.globalAlpha = 0.5;
    map.points.forEach((p, i) => {
      const [u, v] = toMap(p);
      if (u < -2 || v < -2 || u > MAP_PX + 2 || v > MAP_PX + 2) return;
      m.fillStyle = map.palette[map.colors ? map.colors[i] : 0];
      m.fillRect(u - 1.2, v - 1.2, 2.4, 2.4);
    });
    m.globalAlpha = 1;
    m.strokeStyle = "rgba(0,0,0,0.25)";
    m.setLineDash([3, 3]);
    const [ou, ov] = toMap([0, 0]);
    m.beginPath();
    m.moveTo(ou, 0);
    m.lineTo(ou, MAP_PX);
    m.moveTo(0, ov);
    m.lineTo(MAP_PX, ov);
    m.stroke();
    m.setLineDash([]);
  }
  const fullView = view(fullBounds);
  const background = document.createElement("canvas");
  background.width = background.height = MAP_PX * ratio;
  {
    const m = background.getContext("2d");
    m.scale(ratio, ratio);
    paintPoints(m, fullView);
  }
  function drawMap(mu, sigma) {
    const m = mapCanvas.getContext("2d");
    m.setTransform(1, 0, 0, 1, 0, 0);
    let v = fullView;
    if (state.zoom && mu) {
      const r = Math.max(4 * Math.max(...sigma), (fullBounds[1] - fullBounds[0]) / 200);
      v = view([mu[0] - r, mu[0] + r, mu[1] - r, mu[1] + r]);
      m.scale(ratio, ratio);
      paintPoints(m, v);
      m.setTransform(1, 0, 0, 1, 0, 0);
      zoomNote.textContent = `zoomed: ${(2 * r).toFixed(r < 0.05 ? 3 : 2)} wide`;
    } else {
      m.drawImage(background, 0, 0);
      zoomNote.textContent = "";
    }
    m.scale(ratio, ratio);
    if (!mu) return;
    const [u, w] = v.toPixel(mu);
    for (const [n, alpha] of [[2, 0.15], [1, 0.3]]) {
      m.beginPath();
      m.ellipse(u, w, Math.max(1, n * sigma[0] * v.unit), Math.max(1, n * sigma[1] * v.unit), 0, 0, 2 * Math.PI);
      m.fillStyle = `rgba(214,39,40,${alpha})`;
      m.fill();
      m.strokeStyle = "#d62728";
      m.lineWidth = 1.5;
      m.stroke();
    }
    m.beginPath();
    m.arc(u, w, 4, 0, 2 * Math.PI);
    m.fillStyle = "#111";
    m.fill();
    m.strokeStyle = "#fff";
    m.lineWidth = 2;
    m.stroke();
  }
  if (map.labels && map.colors) {
    for (const [i, name] of map.labels.entries()) {
      const item = document.createElement("span");
      item.innerHTML = `<i style="background:${map.palette[i % map.palette.length]}"></i>`;
      item.append(name);
      legend.appendChild(item);
    }
  }

  // ---- the surface: the strokes as drawn, pen width as it will come out when framed ----
  const surfaceCtx = surface.getContext("2d");
  function drawSurface() {
    const c = surfaceCtx;
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    c.fillStyle = "#000";
    c.fillRect(0, 0, PAD_PX, PAD_PX);
    if (state.input) {
      // An upload: its framed picture, large (drawing on it starts a new drawing).
      const tmp = document.createElement("canvas");
      paintGrey(tmp, state.input.x.map((t) => Math.round(255 * Math.min(1, Math.max(0, t)))), shape);
      c.imageSmoothingEnabled = false;
      c.drawImage(tmp, 0, 0, PAD_PX, PAD_PX);
      return;
    }
    c.strokeStyle = c.fillStyle = "#fff";
    c.lineCap = c.lineJoin = "round";
    const lw = (p) => (header.framing.stroke * state.pen * PAD_PX * (p === undefined ? 1 : p)) / header.framing.fill;
    for (const { points } of state.strokes) {
      if (points.length === 1) {
        c.beginPath();
        c.arc(points[0][0] * PAD_PX, points[0][1] * PAD_PX, lw(points[0][2]) / 2, 0, 2 * Math.PI);
        c.fill();
      }
      for (let i = 1; i < points.length; i++) {
        c.lineWidth = lw((points[i - 1][2] + points[i][2]) / 2);
        c.beginPath();
        c.moveTo(points[i - 1][0] * PAD_PX, points[i - 1][1] * PAD_PX);
        c.lineTo(points[i][0] * PAD_PX, points[i][1] * PAD_PX);
        c.stroke();
      }
    }
  }

  // ---- one update: frame, encode, map, decode (at most once per animation frame) ----
  const fmt = (t) => (t < 0 ? "−" : "") + Math.abs(t).toFixed(2);
  let current = null; // the model's input now (Float32Array (D,))
  let inputAt = null; // timeStamp of the input event this update answers
  let queued = false;
  function update() {
    queued = false;
    current = state.input ? Float32Array.from(state.input.x) : renderStrokes(state.strokes, shape, header.framing, state.pen);
    paintGrey(seen, greyLevels(current), shape);
    let post = null;
    if (encoderReady) post = posterior(pad.encoder, header.encoder.posterior, current);
    else if (header.server) post = header.server;
    const blank = !state.input && !state.strokes.length;
    drawMap(post && post.mu, post && post.sigma);
    if (post) {
      readout.textContent = `μ = (${fmt(post.mu[0])}, ${fmt(post.mu[1])})   σ = (${post.sigma[0].toFixed(2)}, ${post.sigma[1].toFixed(2)})${blank ? "   (blank pad)" : ""}`;
    } else {
      readout.textContent = "μ appears when a stroke ends";
    }
    if (post && pad.decoder) paintGrey(recon, greyLevels(expectation(pad.decoder, header.likelihood, post.mu)), shape);
    else if (post && header.server && header.server.recon) paintGrey(recon, greyLevels(header.server.recon), shape);
    // On the performance timeline: the posterior drawn, and the input event it answers (its
    // timeStamp: from there to this mark is the pen-to-bubble latency, bench/draw_latency.py).
    mark("vx:pad-update", { mu: post && post.mu, sigma: post && post.sigma, inputAt, inputType });
    inputAt = null;
  }
  let inputType = null;
  function schedule(e) {
    if (e && inputAt === null) [inputAt, inputType] = [e.timeStamp, e.type];
    if (!queued) {
      queued = true;
      requestAnimationFrame(update);
    }
  }

  function send() {
    // One rerun per finished stroke or clear: the model's input, rounded (a few KB of JSON).
    const blank = !state.input && !state.strokes.length;
    setStateValue("image", blank ? null : { x: Array.from(current, (t) => Math.round(t * 1e4) / 1e4), strokes: state.strokes.length, at: Date.now() });
  }

  // ---- pointer events: mouse, pen and touch alike ----
  let active = null;
  const point = (e) => {
    const r = surface.getBoundingClientRect();
    const p = e.pointerType === "pen" && e.pressure > 0 ? 0.5 + e.pressure : 1;
    return [Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (e.clientY - r.top) / r.height)), p];
  };
  const onDown = (e) => {
    if (e.button !== 0 && e.pointerType === "mouse") return;
    e.preventDefault();
    surface.setPointerCapture(e.pointerId);
    if (state.input) state.input = null; // drawing after an upload starts a new drawing
    active = { id: e.pointerId, stroke: { points: [point(e)] } };
    state.strokes.push(active.stroke);
    drawSurface();
    schedule(e);
  };
  const onMove = (e) => {
    if (!active || e.pointerId !== active.id) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const c of events.length ? events : [e]) active.stroke.points.push(point(c));
    drawSurface();
    schedule(e);
  };
  const onUp = (e) => {
    if (!active || e.pointerId !== active.id) return;
    active = null;
    inputAt = null;
    schedule(e);
    requestAnimationFrame(send); // after the update that frames the finished stroke
  };
  surface.addEventListener("pointerdown", onDown);
  surface.addEventListener("pointermove", onMove);
  surface.addEventListener("pointerup", onUp);
  surface.addEventListener("pointercancel", onUp);
  root.querySelector(".vx-pad-clear").addEventListener("click", () => {
    state.strokes = [];
    state.input = null;
    drawSurface();
    update();
    send();
  });
  zoomBox.addEventListener("change", () => {
    state.zoom = zoomBox.checked;
    update();
  });
  penSelect.addEventListener("change", () => {
    state.pen = Number(penSelect.value);
    drawSurface();
    update();
    if (state.strokes.length) send();
  });

  drawSurface();
  update();
}
