// Latent units <-> pixels, the one mapping every picture of the latent space uses.
//
// A view maps the window [x0, x1] x [y0, y1] onto a pixel box (left, top, width, height),
// y growing upwards in latent units and downwards in pixels:
//   u = left + (x - x0) * sx,   v = top + (y1 - y) * sy.

export function view([x0, x1, y0, y1], { left = 0, top = 0, width, height }) {
  const sx = width / (x1 - x0);
  const sy = height / (y1 - y0);
  return {
    x0, x1, y0, y1, left, top, width, height, sx, sy,
    toPixel: ([x, y]) => [left + (x - x0) * sx, top + (y1 - y) * sy],
    toLatent: ([u, v]) => [x0 + (u - left) / sx, y1 - (v - top) / sy],
  };
}

export function squareView([x0, x1, y0, y1], px) {
  // Equal units on both axes in a px x px box (a circle stays a circle), the window centred.
  const unit = Math.min(px / (x1 - x0), px / (y1 - y0));
  const left = (px - unit * (x1 - x0)) / 2;
  const top = (px - unit * (y1 - y0)) / 2;
  return { ...view([x0, x1, y0, y1], { left, top, width: unit * (x1 - x0), height: unit * (y1 - y0) }), unit };
}

export function plotView(gd) {
  // The view of a Plotly chart's plot area, in CSS pixels of its graph div, or null before
  // its first draw. Private fields, because Plotly has no public API for them:
  // - xaxis.range of _fullLayout: gd.layout's range is written back only when a pan or
  //   wheel ends, and the bubbles follow the gesture live;
  // - _offset and _length: where auto-margins put the plot area (gd.layout.margin is only
  //   what was asked for).
  const fl = gd && gd._fullLayout;
  if (!fl || !fl.xaxis || !fl.yaxis) return null;
  const [x0, x1] = fl.xaxis.range.map(Number);
  const [y0, y1] = fl.yaxis.range.map(Number);
  return view([x0, x1, y0, y1], {
    left: fl.xaxis._offset, top: fl.yaxis._offset, width: fl.xaxis._length, height: fl.yaxis._length,
  });
}
