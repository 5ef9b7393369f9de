// The fixtures tests/js/fixtures.py wrote (tests/test_js.py runs it, then node): the payload
// bytes a component receives and the answers torch and numpy gave.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const FOLDER = process.env.VX_FIXTURES;

export function fixture(name) {
  if (!FOLDER) throw new Error("VX_FIXTURES is not set: run these through tests/test_js.py");
  const answers = JSON.parse(readFileSync(join(FOLDER, `${name}.json`), "utf-8"));
  let bytes = null;
  try {
    bytes = new Uint8Array(readFileSync(join(FOLDER, `${name}.bin`)));
  } catch {}
  return { bytes, answers };
}

export function maxAbsError(got, want) {
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  if (got.length !== want.length) return Infinity;
  return worst;
}

export function recordingCanvas() {
  // A 2D context that records the calls that draw (ellipse, arc, fill, stroke...).
  const calls = [];
  const ctx = new Proxy(
    {},
    {
      get(target, prop) {
        if (prop === "calls") return calls;
        if (prop in target) return target[prop];
        return (...args) => calls.push([prop, ...args]);
      },
      set(target, prop, value) {
        target[prop] = value;
        return true;
      },
    },
  );
  return ctx;
}
