// Click anywhere on a Plotly chart -> its exact data coordinates (and the data point under
// the pointer, if any) as a Streamlit trigger. Mounted by ui/components/click_map.py.
//
// The chart itself is an ordinary st.plotly_chart that never changes across clicks; this
// component finds it by its key (Streamlit gives the element the class `st-key-<key>`),
// listens to pointer events on its plot area in the capture phase, and converts pixels to
// data units with the chart's own axes. A press and release within 4 px is a click; a longer
// move is Plotly's zoom or pan and is left alone. The clicked spot is drawn as an overlay
// that follows zoom and pan, so the figure is never touched.
const DOUBLE_CLICK_SLOP = 8; // px: presses farther apart than this are never a double-click

export default function ({ data, key, setTriggerValue }) {
  // Streamlit may call this again (new data) without tearing the last call down first:
  // keep exactly one live instance per component key.
  const registry = (window.__vxMapClick = window.__vxMapClick || {});
  if (registry[key]) registry[key]();
  // data = [chart key, marker [x, y] or null]: a list, not a dict, so that Streamlit does
  // not look for data frames in it (that check imports pandas on the first click: ~1 s).
  const [target, initialMarker] = data;
  const selector = `.st-key-${target} .js-plotly-plot`;
  let down = null;
  let marker = initialMarker; // [x, y] in data units, or null
  let live = true; // false once torn down: a frame queued before must not redraw
  let overlay = null;
  let graphDiv = null;

  const axes = (gd) => [gd._fullLayout.xaxis, gd._fullLayout.yaxis];

  function place() {
    if (!live) return;
    const gd = document.querySelector(selector);
    if (!gd || !gd._fullLayout) return;
    if (gd !== graphDiv) {
      graphDiv = gd;
      if (gd.on) gd.on("plotly_afterplot", place);
      if (gd.on) gd.on("plotly_relayout", place);
    }
    if (!overlay || !gd.contains(overlay)) {
      for (const old of gd.querySelectorAll(".vx-click-marker")) old.remove();
      overlay = document.createElement("div");
      overlay.className = "vx-click-marker";
      overlay.style.cssText =
        "position:absolute;left:0;top:0;width:14px;height:14px;margin:-9px 0 0 -9px;" +
        "border:2px solid #111;border-radius:50%;pointer-events:none;z-index:5;" +
        "box-shadow:0 0 0 2px #fff;display:none;will-change:transform";
      gd.appendChild(overlay);
      if (getComputedStyle(gd).position === "static") gd.style.position = "relative";
      // The chart on its own compositing layer: the decode panel changing beside it (or the
      // marker moving over it) then never re-rasterises thousands of SVG ellipses.
      gd.style.willChange = "transform";
    }
    if (!marker) {
      overlay.style.display = "none";
      return;
    }
    const [xa, ya] = axes(gd);
    const px = xa._offset + xa.l2p(marker[0]);
    const py = ya._offset + ya.l2p(marker[1]);
    const inside =
      px >= xa._offset && px <= xa._offset + xa._length && py >= ya._offset && py <= ya._offset + ya._length;
    overlay.style.display = inside ? "block" : "none";
    overlay.style.transform = `translate(${px}px, ${py}px)`;
  }

  function nearestPoint(gd, px, py) {
    // The data point whose marker covers (px, py): traces whose customdata are example ids.
    // Runs between the release and the trigger, so it is a plain loop over the arrays: on
    // linear axes data -> pixel is p = m * v + b (Plotly's own l2p, without its rounding).
    const [xa, ya] = axes(gd);
    const linear = xa.type === "linear" && ya.type === "linear";
    const [mx, bx, my, by] = [xa._m, xa._b, ya._m, ya._b];
    let best = null;
    let bestD = Infinity;
    for (const t of gd._fullData) {
      if (!t.customdata || !t.mode || t.mode.indexOf("markers") < 0 || t.visible !== true) continue;
      if (t.name === "click grid") continue;
      const reach = (typeof t.marker.size === "number" ? t.marker.size : 6) / 2 + 3;
      const r2 = reach * reach;
      const xs = t.x;
      const ys = t.y;
      for (let i = 0; i < xs.length; i++) {
        const dx = (linear ? mx * xs[i] + bx : xa.l2p(xs[i])) - px;
        if (dx > reach || dx < -reach) continue;
        const dy = (linear ? my * ys[i] + by : ya.l2p(ys[i])) - py;
        const d = dx * dx + dy * dy;
        if (d <= r2 && d < bestD) {
          bestD = d;
          best = [xs[i], ys[i], Number(t.customdata[i])];
        }
      }
    }
    return best;
  }

  const onDown = (e) => {
    const gd = document.querySelector(selector);
    const drag = e.target && e.target.closest ? e.target.closest(".nsewdrag") : null;
    down = gd && drag && gd.contains(drag) && e.button === 0 ? [e.clientX, e.clientY] : null;
    if (!down) return;
    // Where the chart is, read now: layout is clean before Plotly's mousedown covers the page
    // with its drag layer, and reading it on release would force a layout first.
    const rect = gd.getBoundingClientRect();
    down.push(rect.left, rect.top);
    // Plotly counts any two presses within doubleClickDelay (300 ms) as a double-click,
    // wherever they land, and a double-click resets the axes: the zoom is lost and the whole
    // map is redrawn (0.4-2 s measured). Two clicks on different spots are two clicks: start
    // a new click train (this listener runs before Plotly's mousedown handler). A real
    // double-click, on one spot, still resets the zoom. (The last press is kept on the chart:
    // this function runs anew on every click, as the marker changes.)
    const last = gd.__vxLastPress;
    if (last && Math.hypot(down[0] - last[0], down[1] - last[1]) > DOUBLE_CLICK_SLOP)
      gd._mouseDownTime = 0;
    gd.__vxLastPress = down;
  };
  const onUp = (e) => {
    if (!down) return;
    const [x0, y0, left, top] = down;
    down = null;
    if (Math.hypot(e.clientX - x0, e.clientY - y0) > 4) return; // zoom or pan
    const gd = document.querySelector(selector);
    if (!gd || !gd._fullLayout) return;
    const [xa, ya] = axes(gd);
    const px = e.clientX - left - xa._offset;
    const py = e.clientY - top - ya._offset;
    const hit = nearestPoint(gd, px, py);
    const z = hit ? [hit[0], hit[1]] : [xa.p2l(px), ya.p2l(py)];
    // The picture first (ui/components/map_decoder.js draws it in the browser, if mounted), then the
    // trigger (Streamlit sends it on its next timer tick), the marker in the next frame.
    window.dispatchEvent(new CustomEvent("vx-map-click", { detail: { target, z } }));
    setTriggerValue("click", { x: z[0], y: z[1], index: hit ? hit[2] : null, at: Date.now() });
    marker = z;
    requestAnimationFrame(place);
  };

  document.addEventListener("pointerdown", onDown, true);
  document.addEventListener("pointerup", onUp, true);
  window.addEventListener("resize", place);
  // The chart may be drawn after this component, or redrawn as a new element when the map's
  // options change: follow it (one querySelector every 200 ms).
  const timer = setInterval(() => {
    if (document.querySelector(selector) !== graphDiv) place();
  }, 200);
  place();

  const teardown = () => {
    live = false;
    if (registry[key] === teardown) delete registry[key];
    clearInterval(timer);
    document.removeEventListener("pointerdown", onDown, true);
    document.removeEventListener("pointerup", onUp, true);
    window.removeEventListener("resize", place);
    if (graphDiv && graphDiv.removeListener) {
      graphDiv.removeListener("plotly_afterplot", place);
      graphDiv.removeListener("plotly_relayout", place);
    }
    if (overlay) overlay.remove();
  };
  registry[key] = teardown;
  return teardown;
}
