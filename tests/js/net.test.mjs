// The one interpreter (web/lib/net.js) against torch, on payloads the app writes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { loadDecoder } from "../../ui/components/web/map_decoder.js";
import { loadPad } from "../../ui/components/web/drawing_pad.js";
import { expectation, posterior, boundLogvar } from "../../ui/components/web/lib/net.js";
import { greyLevels } from "../../ui/components/web/lib/picture.js";
import { store } from "../../ui/components/web/lib/registry.js";
import { fixture, maxAbsError } from "./load.mjs";

for (const name of ["decoder-mlp-bernoulli", "decoder-mlp-gaussian", "decoder-conv-bernoulli", "chain"]) {
  test(`${name}: E[x|z] is torch's, and so are its grey levels`, (t) => {
    const { bytes, answers } = fixture(name);
    const model = loadDecoder(bytes);
    let worst = 0;
    answers.zs.forEach((z, i) => {
      const x = expectation(model.ops, model.header.likelihood, z);
      worst = Math.max(worst, maxAbsError(x, answers.expected[i]));
      if (answers.levels) {
        // float64 here against float32 in torch: a level may differ by one at a rounding edge
        const levels = greyLevels(x);
        const off = answers.levels[i].filter((v, j) => Math.abs(v - levels[j]) > 1).length;
        assert.equal(off, 0, `z = ${z}`);
      }
    });
    t.diagnostic(`max abs error against torch: ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-5, `max abs error ${worst}`);
  });
}

for (const name of ["encoder-mlp", "encoder-conv", "encoder-softclamp"]) {
  test(`${name}: mu and sigma are torch's`, (t) => {
    const { bytes, answers } = fixture(name);
    const pad = loadPad(bytes);
    let worst = 0;
    answers.xs.forEach((x, i) => {
      const got = posterior(pad.encoder, pad.header.encoder.posterior, x);
      worst = Math.max(worst, maxAbsError(got.mu, answers.mu[i]));
      worst = Math.max(worst, maxAbsError(got.sigma, answers.sigma[i]) / Math.max(...answers.sigma[i]));
    });
    t.diagnostic(`max abs error against torch (sigma relative): ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-5, `max error ${worst}`);
    if (name === "encoder-softclamp") assert.ok(answers.sigma.flat().every((s) => s < 0.3));
  });
}

test("a header-only payload finds its weights by id; one never sent has none", () => {
  const { bytes } = fixture("decoder-mlp-bernoulli");
  store("networks").clear();
  const full = loadDecoder(bytes);
  assert.ok(full.ops);
  const id = full.header.decoder.id;
  // the same decoder named by id only, as later runs send it
  const head = { ...full.header, decoder: { ...full.header.decoder, weights: false } };
  const headOnly = frameOf(head);
  assert.equal(loadDecoder(headOnly).ops, full.ops);
  store("networks").clear();
  assert.equal(loadDecoder(headOnly).ops, null);
  assert.equal(loadDecoder(frameOf({ ...head, decoder: { ...head.decoder, id: id + "x" } })).ops, null);
});

test("the soft clamp is b - softplus(b - t): below b always, the identity far under it", () => {
  const bound = { kind: "softclamp", max: 2 * Math.log(0.3) };
  for (const t of [-30, -5, 0, 5, 30]) assert.ok(boundLogvar(bound, t) < bound.max);
  assert.ok(Math.abs(boundLogvar(bound, -30) - -30) < 1e-9);
  assert.equal(boundLogvar({ kind: "clamp", max: 1 }, 3), 1);
  assert.equal(boundLogvar({ kind: "identity" }, 3), 3);
});

function frameOf(header) {
  // A frame with no arrays, as runner/frames.py writes one.
  const body = new TextEncoder().encode(JSON.stringify({ ...header, arrays: [] }));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, false);
  out.set(body, 4);
  return out;
}
