// The interpolation scrubber (mounted by ui/components/scrubber.py): a slider over S decoded frames that
// were sent once, as one sprite sheet. Each input event copies one tile onto the picture
// canvas, moves two markers (on the mini map, and on the page's Plotly map, where this
// component also draws the path) and rewrites one line of text: no server traffic and no
// figure redraw while dragging.
//
// data: {steps, path: [[z1, z2]] (S), waypoints, bounds: [x0, x1, y0, y1], points, colors,
//        palette, mapKey, displayPx, sprite: {url, columns, w, h} | vectors: [[...]] (S, D)}
export default function ({ data, key, parentElement }) {
  // Streamlit may call this again (a rerun) without tearing the last call down first: keep
  // one live instance per key. The position t is kept across reruns, even when the path
  // changes: switching linear <-> spherical then compares the two paths at the same t.
  const registry = (window.__vxScrub = window.__vxScrub || {});
  if (registry[key]) registry[key]();
  const positions = (window.__vxScrubAt = window.__vxScrubAt || {});
  const images = (window.__vxScrubSprites = window.__vxScrubSprites || {});
  const S = data.steps;
  const px = data.displayPx;
  let index = Math.min(positions[key] || 0, S - 1);

  const root = document.createElement("div");
  root.className = "vx-scrub";
  root.innerHTML = `
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
    <div class="vx-scrub-readout" aria-live="off"></div>`;
  for (const old of parentElement.querySelectorAll(".vx-scrub")) old.remove();
  parentElement.appendChild(root);
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
      ctx.drawImage(sprite, (i % columns) * w, Math.floor(i / columns) * h, w, h, 0, 0, w, h);
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
  const [x0, x1, y0, y1] = data.bounds;
  const mapPx = px;
  // Equal units on both axes (a circle stays a circle: slerp arcs look like arcs), centred.
  const unit = Math.min(mapPx / (x1 - x0), mapPx / (y1 - y0));
  const du = (mapPx - unit * (x1 - x0)) / 2;
  const dv = (mapPx - unit * (y1 - y0)) / 2;
  const toMap = (z) => [du + (z[0] - x0) * unit, dv + (y1 - z[1]) * unit];
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
  let axes = null;
  const onPlotChange = () => drawOverlay();
  function drawOverlay() {
    if (!data.mapKey) return;
    const gd = document.querySelector(`.st-key-${data.mapKey} .js-plotly-plot`);
    if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) return;
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
    const xa = gd._fullLayout.xaxis;
    const ya = gd._fullLayout.yaxis;
    axes = [xa, ya];
    Object.assign(overlay.style, {
      left: `${xa._offset}px`, top: `${ya._offset}px`, width: `${xa._length}px`, height: `${ya._length}px`,
    });
    const at = (z) => [xa.l2p(z[0]).toFixed(1), ya.l2p(z[1]).toFixed(1)];
    // The waypoints' numbers as large as the chart's own text (presenter mode raises it).
    const labelPx = Math.max(12, (gd._fullLayout.font && gd._fullLayout.font.size) || 12);
    let svg = `<polyline class="vx-scrub-path" points="${data.path.map((z) => at(z).join(",")).join(" ")}"
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
  function moveRing() {
    if (!ring || !axes) return;
    const z = data.path[index];
    ring.setAttribute("transform", `translate(${axes[0].l2p(z[0])},${axes[1].l2p(z[1])})`);
  }

  // ---- one step: picture, markers, text ----
  const fmt = (x) => (x < 0 ? "−" : " ") + Math.abs(x).toFixed(3);
  function show(i) {
    index = Math.max(0, Math.min(S - 1, i));
    positions[key] = index;
    if (drawPicture(index)) picture.dataset.frame = String(index);
    const z = data.path[index];
    const [u, v] = toMap(z);
    dot.style.transform = `translate(${u}px, ${v}px)`;
    moveRing();
    const t = S > 1 ? index / (S - 1) : 0;
    readout.textContent = `t = ${t.toFixed(2)}   z = (${fmt(z[0])}, ${fmt(z[1])})   step ${index + 1}/${S}`;
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
      if (index + direction < 0 || index + direction > S - 1) direction = -direction;
      range.value = String(index + direction);
      show(index + direction);
    }, 2500 / S);
  });
  range.addEventListener("pointerdown", stop);
  range.addEventListener("keydown", stop);

  if (data.sprite) {
    const cached = images[data.sprite.url];
    if (cached && cached.complete) {
      sprite = cached;
    } else {
      const img = new Image();
      img.onload = () => {
        images[data.sprite.url] = img;
        for (const u of Object.keys(images)) if (u !== data.sprite.url) delete images[u];
        sprite = img;
        show(index);
      };
      img.src = data.sprite.url;
    }
  }
  show(index);
  drawOverlay();
  // The Plotly map may be drawn after this component, or replaced: follow it.
  const finder = setInterval(() => {
    if (!graphDiv || !document.contains(graphDiv) || !overlay || !graphDiv.contains(overlay)) drawOverlay();
  }, 300);

  const teardown = () => {
    if (registry[key] === teardown) delete registry[key];
    stop();
    clearInterval(finder);
    if (graphDiv && graphDiv.removeListener) {
      graphDiv.removeListener("plotly_afterplot", onPlotChange);
      graphDiv.removeListener("plotly_relayout", onPlotChange);
    }
    if (overlay) overlay.remove();
    root.remove();
  };
  registry[key] = teardown;
  return teardown;
}
