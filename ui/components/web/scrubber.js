// The interpolation scrubber (mounted by ui/components/scrubber.py): a slider over S decoded frames that
// were sent once, as one sprite sheet. Each input event copies one tile onto the picture
// canvas, moves two markers (on the mini map, and on the page's Plotly map, where this
// component also draws the path) and rewrites one line of text: no server traffic and no
// figure redraw while dragging.
//
// data: {steps, path: [[z1, z2]] (S), waypoints, bounds: [x0, x1, y0, y1], points, colors,
//        palette, mapKey, displayPx, sprite: {url, columns, w, h} | vectors: [[...]] (S, D)}
import { replaceRoot } from "./lib/dom.js";
import { plotView, squareView } from "./lib/latent.js";
import { mark, mountOnce, store } from "./lib/registry.js";

const PLAY_MS = 2500; // one way along the path while playing

export function tile(i, columns, w, h) {
  // The top-left corner of frame i in a sprite sheet of `columns` tiles of w x h, row-major.
  return [(i % columns) * w, Math.floor(i / columns) * h];
}

export function step(index, direction, steps) {
  // One step of play, back and forth: -> [next index, direction].
  if (index + direction < 0 || index + direction > steps - 1) direction = -direction;
  return [Math.max(0, Math.min(steps - 1, index + direction)), direction];
}

export function readoutLine(index, steps, z) {
  // The line under the picture: t in [0, 1], z, and the step.
  const fmt = (x) => (x < 0 ? "−" : " ") + Math.abs(x).toFixed(3);
  const t = steps > 1 ? index / (steps - 1) : 0;
  return `t = ${t.toFixed(2)}   z = (${fmt(z[0])}, ${fmt(z[1])})   step ${index + 1}/${steps}`;
}

export function polyline(path, toPixel) {
  // SVG polyline points of a path in latent units.
  return path.map((z) => toPixel(z).map((v) => v.toFixed(1)).join(",")).join(" ");
}

export default function mountScrubber({ data, key, parentElement }) {
  return mountOnce(key, () => mount(data, key, parentElement));
}

function mount(data, key, parentElement) {
  // The position t is kept across reruns, even when the path changes: switching linear <->
  // spherical then compares the two paths at the same t.
  const positions = store("scrub positions");
  const images = store("scrub sprites");
  const S = data.steps;
  const px = data.displayPx;
  let index = Math.min(positions.get(key) || 0, S - 1);

  const root = replaceRoot(parentElement, "vx-scrub", `
    <div class="vx-scrub-views">
      <figure class="vx-scrub-figure"><canvas class="vx-scrub-picture"></canvas>
        <figcaption>decoded E[x | z]</figcaption></figure>
      <figure class="vx-scrub-figure"><div class="vx-scrub-map"><canvas></canvas>
        <div class="vx-scrub-dot"></div></div><figcaption>where z is on the map</figcaption></figure>
    </div>
    <div class="vx-scrub-controls">
      <button type="button" class="vx-scrub-play" aria-label="Play along the path">▶</button>
      <input type="range" class="vx-scrub-range" min="0" max="${S - 1}" step="1" value="${index}"
        aria-label="Position along the interpolation path (arrow keys step)">
    </div>
    <div class="vx-scrub-readout" aria-live="off"></div>`);
  const picture = root.querySelector(".vx-scrub-picture");
  const mapBox = root.querySelector(".vx-scrub-map");
  const mapCanvas = mapBox.querySelector("canvas");
  const dot = root.querySelector(".vx-scrub-dot");
  const range = root.querySelector(".vx-scrub-range");
  const play = root.querySelector(".vx-scrub-play");
  const readout = root.querySelector(".vx-scrub-readout");
  const ctx = picture.getContext("2d");

  // ---- the picture: a sprite tile at native size (CSS upscales it crisply), or bars ----
  let sprite = null;
  let drawPicture;
  if (data.sprite) {
    const { w, h, columns } = data.sprite;
    picture.width = w;
    picture.height = h;
    const scale = Math.max(1, Math.floor(px / Math.max(w, h)));
    picture.style.width = `${w * scale}px`;
    picture.style.height = `${h * scale}px`;
    drawPicture = (i) => {
      if (!sprite) return false;
      ctx.clearRect(0, 0, w, h);
      ctx.drawImage(sprite, ...tile(i, columns, w, h), w, h, 0, 0, w, h);
      return true;
    };
  } else {
    const vectors = data.vectors;
    const ratio = window.devicePixelRatio || 1;
    picture.width = px * ratio;
    picture.height = px * ratio;
    picture.style.width = `${px}px`;
    picture.style.height = `${px}px`;
    picture.style.imageRendering = "auto";
    let lo = 0;
    let hi = 0;
    for (const v of vectors) for (const x of v) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    const span = hi - lo || 1;
    drawPicture = (i) => {
      const v = vectors[i];
      const W = picture.width;
      const H = picture.height;
      const pad = 8 * ratio;
      const plotH = H - pad - 18 * ratio; // the bottom strip holds the values as text
      const bar = (W - 2 * pad) / v.length;
      const y0 = pad + (plotH * hi) / span; // the zero line
      ctx.clearRect(0, 0, W, H);
      ctx.fillStyle = "#1f77b4";
      v.forEach((x, d) => {
        const y = pad + (plotH * (hi - x)) / span;
        ctx.fillRect(pad + d * bar + bar * 0.15, Math.min(y, y0), bar * 0.7, Math.max(1, Math.abs(y0 - y)));
      });
      ctx.fillStyle = "#31333f";
      ctx.font = `${11 * ratio}px monospace`;
      ctx.textAlign = "center";
      if (v.length <= 8) v.forEach((x, d) => ctx.fillText(x.toFixed(2), pad + (d + 0.5) * bar, H - 4 * ratio));
      return true;
    };
  }

  // ---- the mini map: drawn once; the dot moves with a transform ----
  const mapPx = px;
  // Equal units on both axes (a circle stays a circle: slerp arcs look like arcs), centred.
  const toMap = squareView(data.bounds, mapPx).toPixel;
  (function drawMap() {
    const ratio = window.devicePixelRatio || 1;
    mapCanvas.width = mapPx * ratio;
    mapCanvas.height = mapPx * ratio;
    mapCanvas.style.width = `${mapPx}px`;
    mapCanvas.style.height = `${mapPx}px`;
    const m = mapCanvas.getContext("2d");
    m.scale(ratio, ratio);
    m.globalAlpha = 0.45;
    data.points.forEach((p, i) => {
      const [u, v] = toMap(p);
      m.fillStyle = data.palette[data.colors ? data.colors[i] : 0];
      m.fillRect(u - 1, v - 1, 2, 2);
    });
    m.globalAlpha = 1;
    m.strokeStyle = "#111";
    m.lineWidth = 1.5;
    m.beginPath();
    data.path.forEach((z, i) => {
      const [u, v] = toMap(z);
      if (i === 0) m.moveTo(u, v);
      else m.lineTo(u, v);
    });
    m.stroke();
    m.font = "10px sans-serif";
    data.waypoints.forEach((z, i) => {
      const [u, v] = toMap(z);
      m.beginPath();
      m.arc(u, v, 4, 0, 2 * Math.PI);
      m.fillStyle = "#fff";
      m.fill();
      m.stroke();
      m.fillStyle = "#111";
      m.fillText(String(i + 1), u + 5, v - 5);
    });
  })();

  // ---- the path, its waypoints and z on the page's Plotly map (same latent units) ----
  // An SVG laid over the chart's plot area and drawn in the chart's own axes, redrawn on zoom
  // or pan: the figure never changes with the path (one per model, built once, zoom kept) and
  // Plotly never redraws its thousands of points for a new path or a step. The overlay is its
  // own compositing layer, so a step repaints a ring, not the chart.
  const SVG_NS = "http://www.w3.org/2000/svg";
  let graphDiv = null;
  let overlay = null;
  let ring = null;
  let plot = null; // the chart's view (lib/latent.js plotView), as last drawn
  const onPlotChange = () => drawOverlay();
  function drawOverlay() {
    if (!data.mapKey) return;
    const gd = document.querySelector(`.st-key-${data.mapKey} .js-plotly-plot`);
    const view = plotView(gd);
    if (!view) return;
    if (gd !== graphDiv) {
      if (graphDiv && graphDiv.removeListener) {
        graphDiv.removeListener("plotly_afterplot", onPlotChange);
        graphDiv.removeListener("plotly_relayout", onPlotChange);
      }
      graphDiv = gd;
      if (gd.on) {
        gd.on("plotly_afterplot", onPlotChange);
        gd.on("plotly_relayout", onPlotChange);
      }
    }
    if (!overlay || !gd.contains(overlay)) {
      for (const old of gd.querySelectorAll(".vx-scrub-overlay")) old.remove();
      overlay = document.createElementNS(SVG_NS, "svg");
      overlay.setAttribute("class", "vx-scrub-overlay");
      overlay.style.cssText =
        "position:absolute;pointer-events:none;z-index:6;overflow:hidden;will-change:transform";
      if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
      gd.appendChild(overlay);
    }
    // The overlay covers the plot area: its pixels are the view's less the area's corner.
    plot = view;
    Object.assign(overlay.style, {
      left: `${view.left}px`, top: `${view.top}px`, width: `${view.width}px`, height: `${view.height}px`,
    });
    const at = (z) => overlayPixel(z).map((v) => v.toFixed(1));
    // The waypoints' numbers as large as the chart's own text (presenter mode raises it).
    const labelPx = Math.max(12, (gd.layout.font && gd.layout.font.size) || 12);
    let svg = `<polyline class="vx-scrub-path" points="${polyline(data.path, overlayPixel)}"
      fill="none" stroke="#111" stroke-width="2" stroke-linejoin="round"/>`;
    data.waypoints.forEach((z, i) => {
      const [u, v] = at(z);
      svg += `<circle cx="${u}" cy="${v}" r="5.5" fill="#fff" stroke="#111" stroke-width="2"/>
        <text x="${u}" y="${v - 10}" text-anchor="middle" font-size="${labelPx}" font-family="sans-serif"
        fill="#111" stroke="#fff" stroke-width="3" paint-order="stroke">${i + 1}</text>`;
    });
    svg += `<g class="vx-scrub-marker"><circle r="8" fill="none" stroke="#fff" stroke-width="5"/>
      <circle r="8" fill="none" stroke="#d62728" stroke-width="2.5"/></g>`;
    overlay.innerHTML = svg;
    ring = overlay.querySelector(".vx-scrub-marker");
    moveRing();
  }
  function overlayPixel(z) {
    const [u, v] = plot.toPixel(z);
    return [u - plot.left, v - plot.top];
  }
  function moveRing() {
    if (!ring || !plot) return;
    const [u, v] = overlayPixel(data.path[index]);
    ring.setAttribute("transform", `translate(${u},${v})`);
  }

  // ---- one step: picture, markers, text ----
  function show(i) {
    index = Math.max(0, Math.min(S - 1, i));
    positions.set(key, index);
    // The frame shown, on the performance timeline (tests and benches read it).
    if (drawPicture(index)) mark("vx:scrub", { frame: index });
    const z = data.path[index];
    const [u, v] = toMap(z);
    dot.style.transform = `translate(${u}px, ${v}px)`;
    moveRing();
    const t = S > 1 ? index / (S - 1) : 0;
    readout.textContent = readoutLine(index, S, z);
    range.setAttribute("aria-valuetext", `t ${t.toFixed(2)}, z ${z[0].toFixed(2)}, ${z[1].toFixed(2)}`);
  }

  range.addEventListener("input", () => show(Number(range.value)));

  // Play: walk the path back and forth (~2.5 s each way) until pressed again or dragged.
  let timer = null;
  let direction = 1;
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
    play.textContent = "▶";
    play.setAttribute("aria-label", "Play along the path");
  };
  play.addEventListener("click", () => {
    if (timer) return stop();
    play.textContent = "⏸";
    play.setAttribute("aria-label", "Pause");
    timer = setInterval(() => {
      let next;
      [next, direction] = step(index, direction, S);
      range.value = String(next);
      show(next);
    }, PLAY_MS / S);
  });
  range.addEventListener("pointerdown", stop);
  range.addEventListener("keydown", stop);

  if (data.sprite) {
    const cached = images.get(data.sprite.url);
    if (cached && cached.complete) {
      sprite = cached;
    } else {
      const img = new Image();
      img.onload = () => {
        images.clear(); // one sheet kept: the path on screen
        images.set(data.sprite.url, img);
        sprite = img;
        show(index);
      };
      img.src = data.sprite.url;
    }
  }
  show(index);
  drawOverlay();
  // The Plotly map may be drawn after this component, or replaced by a new element (Plotly's
  // events are the element's, so they cannot tell): watch the page for elements added.
  const watcher = new MutationObserver(() => {
    if (!graphDiv || !document.contains(graphDiv) || !overlay || !graphDiv.contains(overlay)) drawOverlay();
  });
  if (data.mapKey) watcher.observe(document.body, { childList: true, subtree: true });

  return () => {
    stop();
    watcher.disconnect();
    if (graphDiv && graphDiv.removeListener) {
      graphDiv.removeListener("plotly_afterplot", onPlotChange);
      graphDiv.removeListener("plotly_relayout", onPlotChange);
    }
    if (overlay) overlay.remove();
    root.remove();
  };
}
