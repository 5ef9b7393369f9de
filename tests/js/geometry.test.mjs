// The latent<->pixel mapping, the bubbles' geometry on a recording canvas, the scrubber's path math.
import assert from "node:assert/strict";
import { test } from "node:test";

import { loadLayer, drawBubbles, hiddenColors } from "../../ui/components/web/map_layer.js";
import { squareView, view } from "../../ui/components/web/lib/latent.js";
import { polyline, step, tile } from "../../ui/components/web/scrubber.js";
import { fixture, recordingCanvas } from "./load.mjs";

test("a view maps the window's corners onto the box's, and back", () => {
  const v = view([-1, 3, -2, 2], { left: 10, top: 20, width: 400, height: 200 });
  assert.deepEqual(v.toPixel([-1, 2]), [10, 20]); // top-left: y grows up in latent units
  assert.deepEqual(v.toPixel([3, -2]), [410, 220]);
  for (const z of [[0.5, 0.25], [-0.9, 1.7]]) {
    const back = v.toLatent(v.toPixel(z));
    assert.ok(Math.abs(back[0] - z[0]) < 1e-12 && Math.abs(back[1] - z[1]) < 1e-12);
  }
});

test("a square view keeps circles round and centres the window", () => {
  const v = squareView([-1, 3, -1, 1], 200); // 4 wide, 2 high
  assert.equal(v.unit, 50);
  const [u0, v0] = v.toPixel([-1, 1]);
  const [u1, v1] = v.toPixel([3, -1]);
  assert.deepEqual([u0, u1], [0, 200]);
  assert.deepEqual([v0, v1], [50, 150]); // centred up-down
  const [a, b] = [v.toPixel([0, 0]), v.toPixel([1, 1])];
  assert.equal(b[0] - a[0], a[1] - b[1]); // one unit is as many pixels across as up
});

test("the bubbles land where numpy puts them: every visible one, once, at its size", () => {
  const { bytes, answers } = fixture("bubbles");
  const { header, arrays } = loadLayer(bytes);
  const ctx = recordingCanvas();
  const f = view(answers.window, answers.box);
  const { drawn } = drawBubbles(ctx, arrays, header, f, new Set(), 1);
  assert.equal(drawn, answers.ellipses.length);
  const key = (e) => e.map((v) => v.toFixed(3)).join(",");
  const got = new Set(ctx.calls.filter((c) => c[0] === "ellipse").map((c) => key(c.slice(1, 5))));
  const want = new Set(answers.ellipses.map(key));
  assert.equal(got.size, want.size);
  for (const e of want) assert.ok(got.has(e), `missing ellipse ${e}`);
  // clipped to the plot area
  const clip = ctx.calls.find((c) => c[0] === "rect");
  assert.deepEqual(clip.slice(1), [answers.box.left, answers.box.top, answers.box.width, answers.box.height]);
});

test("a class hidden in the legend draws no bubbles", () => {
  const { bytes, answers } = fixture("bubbles");
  const { header, arrays } = loadLayer(bytes);
  const hidden = hiddenColors([{ meta: { vx_color: 1 }, visible: "legendonly" }, { meta: { vx_color: 0 } }]);
  assert.deepEqual([...hidden], [1]);
  const ctx = recordingCanvas();
  const { drawn } = drawBubbles(ctx, arrays, header, view(answers.window, answers.box), hidden, 1);
  const ofClass1 = Array.from(arrays.color).filter((c) => c === 1).length;
  assert.ok(drawn < answers.ellipses.length && drawn >= answers.ellipses.length - ofClass1);
});

test("each frame's tile is where the server's sprite sheet put it", () => {
  const { answers } = fixture("sprite");
  const { steps, columns, w, h, corners } = answers;
  for (let i = 0; i < steps; i++) assert.deepEqual(tile(i, columns, w, h), corners[i], `frame ${i}`);
});

test("play walks the path to its end and back, never past it", () => {
  const S = 5;
  let [index, direction] = [0, 1];
  const seen = [index];
  for (let i = 0; i < 2 * (S - 1); i++) {
    [index, direction] = step(index, direction, S);
    seen.push(index);
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 3, 2, 1, 0]);
  assert.deepEqual(step(0, 1, 1), [0, -1]); // one frame: stays
});

test("the path's polyline is its points, mapped", () => {
  const v = view([0, 1, 0, 1], { width: 100, height: 100 });
  assert.equal(polyline([[0, 0], [0.5, 1]], v.toPixel), "0.0,100.0 50.0,0.0");
});
