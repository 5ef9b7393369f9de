// The latent map's browser layer, beside an ordinary st.plotly_chart (found by its key):
// the variance bubbles on a canvas UNDER the points, redrawn for the window on screen on every
// zoom and pan; the clicked z, its bubble, its samples z = mu + sigma * eps and the bubble
// under the cursor on a canvas ABOVE the points; clicks anywhere on the plot area (a z, and
// the example under the pointer) as a trigger; the zoom window as a state value once a zoom
// or pan ends. Mounted by ui/components/map_layer.py.
//
// data: a frame (lib/frame.js) whose header says what to draw (target chart, id of the bubble
// data, k, palette, clicked z and index, samples) and, when header.data, the float32 arrays
// mu (N x 2), sigma (N x 2) and color (N). The arrays are kept by their content id
// (header.id, lib/lru.js), so later payloads (every click reruns the fragment this is mounted
// in) carry the header only; a header whose arrays are not here asks for them ("need").
//
// Plotly's public API covers most of this: its events (plotly_afterplot, plotly_relayouting,
// plotly_relayout, plotly_restyle, plotly_hover) and gd.data (the traces, their legend
// visibility). The private fields that remain are noted where they are read.
//
// Canvas 2D, batched per colour: each visible bubble is a moveTo + ellipse in its colour's
// path (in chunks of PATH_CHUNK), then one stroke per chunk (every outline, at an opacity that
// falls as the bubbles on screen crowd) and, when few are on screen, one fill (the union of
// the chunk's bubbles, so overlaps never darken into a haze). When many are on screen (the full
// view of a dataset) each bubble is also filled on its own, faintly, under the outlines: its
// disc shows around the dot the map draws at its centre however small it is, and where
// bubbles pile up their fills add up, so the colour's depth reads as density. Measured in headless Chromium
// (software rendering) against a hand-written rasteriser and WebGL instanced quads
// (SwiftShader), batched canvas paths were the fastest at the bubble sizes a map shows.
import { parseFrame } from "./lib/frame.js";
import { plotView } from "./lib/latent.js";
import { keep } from "./lib/lru.js";
import { mark, mountOnce, store } from "./lib/registry.js";

const CACHE_SIZE = 6; // bubble data sets kept (60k points: 1.2 MB each)
const DOUBLE_CLICK_SLOP = 8; // px: presses farther apart than this are never a double-click
const REPORT_DELAY = 350; // ms after the last zoom or pan before the window is reported
const MIN_RADIUS = 1; // px: smaller bubbles are not drawn (a speck under their own marker)
const FILL_LIMIT = 300; // bubbles on screen up to which they are filled as one union
const CROWD_FILL_ALPHA = 0.2; // each bubble's own fill beyond FILL_LIMIT
const PATH_CHUNK = 256; // ellipses per canvas path
const FRAME_BUDGET = 24; // ms a redraw may take while a zoom or pan is under way

export function loadLayer(bytes) {
  // The payload -> { header, arrays }: the bubble data sent now or kept (null: neither/none).
  const { header, arrays } = parseFrame(bytes);
  let sent = null;
  if (header.data) {
    const { mu, sigma, color } = arrays;
    const n = header.n;
    if (mu.length !== 2 * n || sigma.length !== 2 * n || color.length !== n)
      throw new Error(`bubble data: arrays do not match ${n} points`);
    sent = prepare(mu, sigma, color, n);
  }
  return { header, arrays: header.id ? keep(store("bubble data"), header.id, sent, CACHE_SIZE) : null };
}

export function prepare(mu, sigma, color, n) {
  // Points grouped by colour once (order, start of each colour), so a redraw walks each
  // colour's points in one run.
  let colors = 0;
  for (let i = 0; i < n; i++) colors = Math.max(colors, color[i] + 1);
  const starts = new Int32Array(colors + 1);
  for (let i = 0; i < n; i++) starts[color[i] + 1]++;
  for (let c = 0; c < colors; c++) starts[c + 1] += starts[c];
  const fill = starts.slice(0, colors);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[fill[color[i]]++] = i;
  return { mu, sigma, color, n, order, starts, colors };
}

function rgba(color, alpha) {
  // "#rrggbb" or "rgb(r, g, b)" -> "rgba(r,g,b,alpha)"
  if (color[0] === "#") {
    const v = parseInt(color.slice(1), 16);
    return `rgba(${v >> 16},${(v >> 8) & 255},${v & 255},${alpha})`;
  }
  const [r, g, b] = color.match(/[\d.]+/g);
  return `rgba(${r},${g},${b},${alpha})`;
}

export function hiddenColors(data) {
  // Colour indices whose point trace the legend has hidden (gd.data: a legend click restyles
  // the trace's visible to "legendonly"): their bubbles go too.
  const hidden = new Set();
  for (const t of data || []) {
    const c = t.meta && t.meta.vx_color;
    if (c !== undefined && t.visible !== undefined && t.visible !== true) hidden.add(c);
  }
  return hidden;
}

export function drawBubbles(ctx, arrays, header, f, hidden, stride = 1) {
  // The visible bubbles in window f (every stride-th one while a zoom or pan is under way and
  // a full draw is too slow for the frame); returns { drawn, coverage }.
  const { mu, sigma, order, starts, colors } = arrays;
  const k = header.k;
  const { x0, x1, y0, y1, left: ox, top: oy, width: w, height: h, sx, sy } = f;
  // Pass 1: what is on screen, and how crowded it is (sum of bubble areas / plot area).
  // A bubble under a pixel across is left out: it would be a speck under its own marker.
  let drawn = 0;
  let area = 0;
  const visible = new Uint8Array(arrays.n);
  for (let c = 0; c < colors; c++) {
    if (hidden.has(c)) continue;
    for (let j = starts[c]; j < starts[c + 1]; j += stride) {
      const i = order[j];
      const x = mu[2 * i];
      const y = mu[2 * i + 1];
      const rx = k * sigma[2 * i];
      const ry = k * sigma[2 * i + 1];
      if (x + rx < x0 || x - rx > x1 || y + ry < y0 || y - ry > y1) continue;
      if (!(rx * sx >= MIN_RADIUS || ry * sy >= MIN_RADIUS)) continue; // tiny, NaN or collapsed
      visible[i] = 1;
      drawn++;
      area += Math.PI * Math.min(rx * sx, w) * Math.min(ry * sy, h);
    }
  }
  const coverage = (area * stride) / (w * h);
  // Crowded: faint outlines only, which still draw each bubble's edge where thousands overlap
  // (a filled union of them is a blot, and filling costs Skia 2-3x the outlines: measured);
  // sparse (zoomed in): strong outlines over a light fill, each bubble on its own.
  const strokeAlpha = Math.min(0.85, Math.max(0.18, 0.85 / Math.sqrt(Math.max(1, coverage))));
  const filled = drawn * stride <= FILL_LIMIT;
  ctx.save();
  ctx.beginPath();
  ctx.rect(ox, oy, w, h);
  ctx.clip();
  ctx.lineWidth = filled ? 1.25 : 1;
  if (!filled) fillEach(ctx, arrays, header, f, hidden, stride, visible);
  for (let c = 0; c < colors; c++) {
    if (hidden.has(c)) continue;
    const color = header.palette[c % header.palette.length];
    ctx.fillStyle = rgba(color, 0.12);
    ctx.strokeStyle = rgba(color, strokeAlpha);
    let inPath = 0;
    const flush = () => {
      if (filled) ctx.fill();
      ctx.stroke();
      ctx.beginPath();
      inPath = 0;
    };
    ctx.beginPath();
    for (let j = starts[c]; j < starts[c + 1]; j += stride) {
      const i = order[j];
      if (!visible[i]) continue;
      const px = ox + (mu[2 * i] - x0) * sx;
      const py = oy + (y1 - mu[2 * i + 1]) * sy;
      const rx = Math.max(0.5, k * sigma[2 * i] * sx);
      const ry = Math.max(0.5, k * sigma[2 * i + 1] * sy);
      ctx.moveTo(px + rx, py);
      ctx.ellipse(px, py, rx, ry, 0, 0, 2 * Math.PI);
      // Skia's cost grows faster than linearly with the contours of one path: short paths
      // (a filled path stays whole: few bubbles, and its union must not darken where they overlap).
      if (++inPath === PATH_CHUNK && !filled) flush();
    }
    if (inPath) flush();
  }
  ctx.restore();
  return { drawn, coverage };
}

function fillEach(ctx, arrays, header, f, hidden, stride, visible) {
  // Every visible bubble filled on its own (overlaps add up), one colour at a time.
  const { mu, sigma, order, starts, colors } = arrays;
  const k = header.k;
  const { x0, y1, left: ox, top: oy, sx, sy } = f;
  for (let c = 0; c < colors; c++) {
    if (hidden.has(c)) continue;
    ctx.fillStyle = rgba(header.palette[c % header.palette.length], CROWD_FILL_ALPHA);
    for (let j = starts[c]; j < starts[c + 1]; j += stride) {
      const i = order[j];
      if (!visible[i]) continue;
      ctx.beginPath();
      ctx.ellipse(ox + (mu[2 * i] - x0) * sx, oy + (y1 - mu[2 * i + 1]) * sy,
        Math.max(0.5, k * sigma[2 * i] * sx), Math.max(0.5, k * sigma[2 * i + 1] * sy),
        0, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

function drawEmphasis(ctx, arrays, header, f, i, strong) {
  // One example's bubble drawn over everything: a white halo under a dark or coloured line.
  if (!arrays || i === null || i === undefined || i < 0 || i >= arrays.n) return;
  const { mu, sigma, color } = arrays;
  const k = header.k || 1;
  const [px, py] = f.toPixel([mu[2 * i], mu[2 * i + 1]]);
  const rx = Math.max(2, k * sigma[2 * i] * f.sx);
  const ry = Math.max(2, k * sigma[2 * i + 1] * f.sy);
  ctx.beginPath();
  ctx.ellipse(px, py, rx, ry, 0, 0, 2 * Math.PI);
  ctx.lineWidth = strong ? 4.5 : 3.5;
  ctx.strokeStyle = "rgba(255,255,255,0.9)";
  ctx.stroke();
  ctx.lineWidth = strong ? 2 : 1.5;
  ctx.strokeStyle = strong ? "#111" : rgba(header.palette[color[i] % header.palette.length], 1);
  ctx.stroke();
  if (strong) {
    ctx.fillStyle = "rgba(17,17,17,0.06)";
    ctx.fill();
  }
}

function drawOver(ctx, state, f) {
  // The hovered bubble, the clicked bubble, its samples, the clicked z's ring.
  const { header, arrays } = state;
  ctx.save();
  ctx.beginPath();
  ctx.rect(f.left, f.top, f.width, f.height);
  ctx.clip();
  if (arrays && header.k > 0) {
    if (state.hover !== null && state.hover !== header.index)
      drawEmphasis(ctx, arrays, header, f, state.hover, false);
    drawEmphasis(ctx, arrays, header, f, header.index, true);
  }
  for (const sample of header.samples || []) {
    const [px, py] = f.toPixel(sample);
    ctx.beginPath();
    ctx.arc(px, py, 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = "#e8590c";
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }
  const z = state.clicked;
  if (z) {
    const [px, py] = f.toPixel(z);
    ctx.beginPath();
    ctx.arc(px, py, 7, 0, 2 * Math.PI);
    ctx.lineWidth = 4;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#111";
    ctx.stroke();
  }
  ctx.restore();
}

function ensureCanvas(gd, cls, before) {
  // A canvas covering the chart, inserted before `before` (a child of the svg container).
  const container = gd.querySelector(".svg-container");
  if (!container) return null;
  let canvas = container.querySelector(`:scope > canvas.${cls}`);
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.className = cls;
    canvas.style.cssText = "position:absolute;left:0;top:0;pointer-events:none;";
  }
  const anchor = before(container);
  if (canvas.nextSibling !== anchor || canvas.parentNode !== container)
    container.insertBefore(canvas, anchor);
  const dpr = window.devicePixelRatio || 1;
  const [w, h] = [Math.round(container.clientWidth), Math.round(container.clientHeight)];
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return [canvas, ctx];
}

// Under: the first child of the svg container (Plotly's first SVG paints a transparent
// background and the SVG points; WebGL points follow). Above: just before the last SVG, which
// holds the hover labels, so those stay on top.
const FIRST = (container) => container.firstChild;
const LAST_SVG = (container) => {
  const svgs = container.querySelectorAll(":scope > svg.main-svg");
  return svgs.length > 1 ? svgs[svgs.length - 1] : null;
};

export function nearestPoint(traces, f, px, py) {
  // The data point whose marker covers (px, py) (plot-area pixels) in view f: [x, y, index]
  // or null. traces: the chart's _fullData, because gd.data may still hold the base64
  // typed-array specs Plotly 6 receives ({dtype, bdata}); only _fullData has them decoded.
  let best = null;
  let bestD = Infinity;
  for (const t of traces) {
    if (!t.customdata || !t.mode || t.mode.indexOf("markers") < 0 || t.visible !== true) continue;
    const reach = (typeof t.marker.size === "number" ? t.marker.size : 6) / 2 + 3;
    const r2 = reach * reach;
    const xs = t.x;
    const ys = t.y;
    for (let i = 0; i < xs.length; i++) {
      const dx = (xs[i] - f.x0) * f.sx - px;
      if (dx > reach || dx < -reach) continue;
      const dy = (f.y1 - ys[i]) * f.sy - py;
      const d = dx * dx + dy * dy;
      if (d <= r2 && d < bestD) {
        bestD = d;
        best = [xs[i], ys[i], Number(t.customdata[i])];
      }
    }
  }
  return best;
}

// component key -> the click the server has not heard of yet (header.notice_ms > 0), kept
// for the window so that it outlives the reruns that mount this component again meanwhile;
// web/click_panel.js reads it too (a notice's click is newer than its payload's).
const notices = () => store("mapNotices");
const remounting = new Set(); // keys being mounted again: their notice stays waiting

export default function mountMapLayer({ data, key, setTriggerValue, setStateValue }) {
  remounting.add(key);
  return mountOnce(key, () => {
    remounting.delete(key);
    return mount(key, loadLayer(data), setTriggerValue, setStateValue);
  });
}

function mount(key, { header, arrays }, setTriggerValue, setStateValue) {
  const waiting = notices().get(key);
  if (waiting) {
    // A rerun that left before the click's notice: the browser's click is the newer one.
    header.clicked = [waiting.click.x, waiting.click.y];
    header.index = waiting.click.index;
    header.samples = waiting.samples || [];
  }
  const selector = `.st-key-${header.target} .js-plotly-plot`;
  const state = {
    header,
    arrays,
    clicked: header.clicked,
    hover: null,
    moving: false, // a zoom or pan is under way (between relayouting and relayout)
    fullMs: 0, // how long the last full draw took
  };
  if (header.id && !state.arrays) setTriggerValue("need", header.id);
  let graphDiv = null;
  let live = true;
  let queued = false;
  let reportTimer = null;
  let down = null;
  // A click waits for the double-click delay before the server hears of it: a double-click
  // zooms out and selects nothing, so its first click is taken back. Its picture, ring and
  // hover are drawn at once all the same; `before` is what a double-click puts back.
  let pending = null; // { timer, at: [x, y], before: { z, index, samples }, send }
  let swallowUp = false; // the release of a double-click's second press is no click

  function draw() {
    queued = false;
    if (!live) return;
    const gd = document.querySelector(selector);
    const f = plotView(gd);
    if (!f) return;
    if (gd !== graphDiv) follow(gd);
    const start = performance.now();
    const under = ensureCanvas(gd, "vx-bubbles", FIRST);
    const over = ensureCanvas(gd, "vx-over", LAST_SVG);
    if (!under || !over) return;
    let drawn = 0;
    // While the user drags or wheels, a full draw that took longer than the frame budget
    // draws every stride-th bubble instead; the full picture follows when the gesture ends.
    const stride = state.moving ? Math.max(1, Math.ceil(state.fullMs / FRAME_BUDGET)) : 1;
    if (state.arrays && header.k > 0)
      drawn = drawBubbles(under[1], state.arrays, header, f, hiddenColors(gd.data), stride).drawn;
    drawOver(over[1], state, f);
    const ms = performance.now() - start;
    if (stride === 1) state.fullMs = ms;
    // What was drawn, on the performance timeline (DevTools; tests and benches read it):
    // the window, the bubbles drawn, the stride, the time it took, the clicked z, its samples.
    const win = [f.x0, f.x1, f.y0, f.y1];
    mark(`vx:map-layer:${header.target}`, { window: win, drawn, stride, ms,
      clicked: state.clicked || null, samples: header.samples || [] });
  }
  const schedule = () => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(draw);
    }
  };

  const report = (event) => {
    // After a zoom, pan or reset ends: the window (null: the full view), once it settles.
    if (!setStateValue) return;
    const autorange = event && (event["xaxis.autorange"] || event["yaxis.autorange"]);
    clearTimeout(reportTimer);
    reportTimer = setTimeout(() => {
      const gd = document.querySelector(selector);
      if (!live || !gd || !gd.layout) return;
      const { xaxis, yaxis } = gd.layout; // the ranges a finished relayout wrote back
      setStateValue("window", autorange ? null : [...xaxis.range, ...yaxis.range].map(Number));
    }, REPORT_DELAY);
  };
  const onRelayouting = () => {
    state.moving = true;
    schedule();
  };
  const onRelayout = (event) => {
    state.moving = false;
    schedule();
    const keys = Object.keys(event || {});
    if (keys.some((k) => k.startsWith("xaxis.") || k.startsWith("yaxis."))) report(event);
  };
  const onHover = (event) => {
    const p = event && event.points && event.points[0];
    const index = p && p.customdata !== undefined ? Number(p.customdata) : null;
    if (index !== state.hover) {
      state.hover = index;
      schedule();
    }
  };
  const onUnhover = () => {
    if (state.hover !== null) {
      state.hover = null;
      schedule();
    }
  };

  function follow(gd) {
    if (graphDiv && graphDiv.removeListener) unfollow(graphDiv);
    graphDiv = gd;
    gd.on("plotly_afterplot", schedule);
    gd.on("plotly_relayouting", onRelayouting);
    gd.on("plotly_relayout", onRelayout);
    gd.on("plotly_restyle", schedule); // a legend click hides a class
    gd.on("plotly_hover", onHover);
    gd.on("plotly_unhover", onUnhover);
  }
  function unfollow(gd) {
    gd.removeListener("plotly_afterplot", schedule);
    gd.removeListener("plotly_relayouting", onRelayouting);
    gd.removeListener("plotly_relayout", onRelayout);
    gd.removeListener("plotly_restyle", schedule);
    gd.removeListener("plotly_hover", onHover);
    gd.removeListener("plotly_unhover", onUnhover);
  }

  const onDown = (e) => {
    const gd = document.querySelector(selector);
    const drag = e.target && e.target.closest ? e.target.closest(".nsewdrag") : null;
    down = gd && drag && gd.contains(drag) && e.button === 0 ? [e.clientX, e.clientY] : null;
    if (!down) return flushAll(); // a press elsewhere: a button, a link, another page
    // Where the chart is, read now: layout is clean before Plotly's mousedown covers the page
    // with its drag layer, and reading it on release would force a layout first.
    const rect = gd.getBoundingClientRect();
    down.push(rect.left, rect.top);
    // Plotly counts any two presses within doubleClickDelay (300 ms) as a double-click,
    // wherever they land, and a double-click resets the axes. Two clicks on different spots
    // are two clicks: start a new click train (this listener runs before Plotly's). The last
    // press is kept per chart, which outlives this function's reruns. _mouseDownTime is
    // private: Plotly's config has no way to say what a double-click is but its delay.
    const presses = store("last press");
    const last = presses.get(gd);
    if (last && Math.hypot(down[0] - last[0], down[1] - last[1]) > DOUBLE_CLICK_SLOP)
      gd._mouseDownTime = 0;
    presses.clear(); // one chart's press at a time: no element is kept alive by it for long
    presses.set(gd, down);
    if (pending && Math.hypot(down[0] - pending.at[0], down[1] - pending.at[1]) <= DOUBLE_CLICK_SLOP) {
      takeBack(); // the second press of a double-click: Plotly zooms out, nothing is selected
      swallowUp = true;
    } else {
      flush(); // a press elsewhere: the waiting click was a click
    }
  };
  const flush = () => {
    if (!pending) return;
    clearTimeout(pending.timer);
    const { send } = pending;
    pending = null;
    send();
  };
  // When the browser draws the whole panel (ui/components/click_panel.js), the server hears
  // of a click header.notice_ms after the last one, never awaited, and at once before
  // anything that may read it: any other press or key on the page, a page hidden, unmounted.
  const notify = (click) => {
    if (!(header.notice_ms > 0)) return setTriggerValue("click", click);
    const all = notices();
    if (all.has(key)) clearTimeout(all.get(key).timer);
    const notice = { target: header.target, click, samples: [], due: Date.now() + header.notice_ms };
    notice.timer = setTimeout(sendNotice, header.notice_ms);
    all.set(key, notice);
  };
  const sendNotice = () => {
    const notice = notices().get(key);
    if (!notice) return false;
    clearTimeout(notice.timer);
    notices().delete(key);
    setTriggerValue("click", notice.click);
    return true;
  };
  // Streamlit sends the widget updates of one task turn as one message, scoped to the first
  // one's fragment: a button or key in the same turn as the notice would ride in the map's
  // fragment run and be lost (the button's full run never happens). So an input that sends
  // a notice is held for one turn, and given again once the notice has left.
  let holding = false;
  const flushAll = () => {
    flush();
    if (sendNotice()) {
      holding = true;
      setTimeout(() => (holding = false), 0); // after Streamlit's own flush, queued first
    }
  };
  const again = (e, event) => {
    if (!e.isTrusted) return;
    e.stopImmediatePropagation();
    e.preventDefault();
    const target = e.target;
    setTimeout(() => target.dispatchEvent(event), 0);
  };
  const onClickHeld = (e) => {
    if (holding) again(e, new MouseEvent("click", e));
  };
  if (waiting) {
    clearTimeout(waiting.timer); // re-armed here: the last instance's callbacks are gone
    waiting.timer = setTimeout(sendNotice, Math.max(0, waiting.due - Date.now()));
  }
  const onSamples = (e) => {
    // The clicked point's z = mu + sigma * eps, drawn by the browser's click panel.
    if (!e.detail || e.detail.target !== header.target) return;
    header.samples = e.detail.samples || [];
    if (notices().has(key)) notices().get(key).samples = header.samples;
    schedule();
  };
  const onKey = (e) => {
    const typing = e.target && e.target.closest && e.target.closest("input, textarea, [contenteditable]");
    flushAll();
    if (holding && !typing) again(e, new KeyboardEvent(e.type, e));
  };
  const onHidden = () => {
    if (document.visibilityState === "hidden") flushAll();
  };
  const takeBack = () => {
    clearTimeout(pending.timer);
    const { z, index, samples } = pending.before;
    pending = null;
    state.clicked = z;
    header.index = index;
    header.samples = samples;
    const detail = { target: header.target, z, index };
    window.dispatchEvent(new CustomEvent("vx-map-click", { detail }));
    schedule();
  };
  const onUp = (e) => {
    if (!down) return;
    const [x0, y0, left, top] = down;
    down = null;
    if (swallowUp) {
      swallowUp = false;
      return;
    }
    if (Math.hypot(e.clientX - x0, e.clientY - y0) > 4) return; // zoom or pan
    // (Not plotly_click: it fires on points only, and a click on empty space is a z too.)
    const gd = document.querySelector(selector);
    const f = plotView(gd);
    if (!f) return;
    const [u, v] = [e.clientX - left, e.clientY - top]; // graph-div pixels
    const hit = nearestPoint(gd._fullData, f, u - f.left, v - f.top);
    const z = hit ? [hit[0], hit[1]] : f.toLatent([u, v]);
    // The picture first (web/map_decoder.js draws it in the browser, if mounted),
    // then the trigger (Streamlit sends it on its next timer tick), the ring in the next frame.
    // Until the server answers, the old samples and bubble are not this click's: none drawn.
    const before = { z: state.clicked, index: header.index, samples: header.samples };
    const click = { x: z[0], y: z[1], index: hit ? hit[2] : null, at: Date.now() };
    const send = () => notify(click);
    // _context: the config as Plotly resolved it (defaults filled in); no public getter.
    const delay = (gd._context && gd._context.doubleClickDelay) || 300;
    pending = { timer: setTimeout(flush, delay), at: [x0, y0], before, send };
    state.clicked = z;
    header.samples = [];
    header.index = click.index;
    const detail = { target: header.target, z, index: click.index };
    window.dispatchEvent(new CustomEvent("vx-map-click", { detail }));
    schedule();
  };

  if (header.clickable) {
    document.addEventListener("pointerdown", onDown, true);
    document.addEventListener("pointerup", onUp, true);
    window.addEventListener("keydown", onKey, true); // before any document listener
    window.addEventListener("click", onClickHeld, true);
    document.addEventListener("visibilitychange", onHidden);
    window.addEventListener("vx-map-samples", onSamples);
  }
  window.addEventListener("resize", schedule);
  // The chart may be drawn after this component, or redrawn as a new element when the map's
  // options change (Plotly's events are the element's, so they cannot tell): watch the page
  // for elements added, and look again when one is.
  const watcher = new MutationObserver(() => {
    const gd = document.querySelector(selector);
    if (gd !== graphDiv || (gd && !gd.querySelector(".svg-container > canvas.vx-bubbles"))) schedule();
  });
  watcher.observe(document.body, { childList: true, subtree: true });
  schedule();

  return () => {
    flush(); // a click waiting for the double-click delay is still a click
    if (!remounting.has(key)) sendNotice(); // mounted again: the next one keeps it waiting
    live = false;
    watcher.disconnect();
    clearTimeout(reportTimer);
    document.removeEventListener("pointerdown", onDown, true);
    document.removeEventListener("pointerup", onUp, true);
    window.removeEventListener("keydown", onKey, true);
    window.removeEventListener("click", onClickHeld, true);
    document.removeEventListener("visibilitychange", onHidden);
    window.removeEventListener("vx-map-samples", onSamples);
    window.removeEventListener("resize", schedule);
    if (graphDiv && graphDiv.removeListener) unfollow(graphDiv);
  };
}
