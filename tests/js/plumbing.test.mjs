// The frame parser, the LRU by id, the registry of live instances.
import assert from "node:assert/strict";
import { test } from "node:test";

import { parseFrame } from "../../ui/components/web/lib/frame.js";
import { keep } from "../../ui/components/web/lib/lru.js";
import { mountOnce } from "../../ui/components/web/lib/registry.js";
import { fixture } from "./load.mjs";

test("a frame runner/frames.py wrote: its header and every dtype's values", () => {
  const { bytes, answers } = fixture("frame");
  const { header, arrays } = parseFrame(bytes);
  assert.deepEqual(header, answers.header);
  for (const [name, values] of Object.entries(answers.arrays)) {
    const got = Array.from(arrays[name], (v) => (typeof v === "bigint" ? String(v) : v));
    assert.deepEqual(got, name === "flags" ? values.map(Number) : values, name);
  }
  assert.ok(arrays.f32 instanceof Float32Array && arrays.i64 instanceof BigInt64Array);
});

test("a truncated or padded frame is an error, not a wrong array", () => {
  const { bytes } = fixture("frame");
  assert.throws(() => parseFrame(bytes.subarray(0, bytes.length - 1)), /runs past the end/);
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  assert.throws(() => parseFrame(longer), /left over/);
});

test("the LRU keeps what was sent or used last, and drops the oldest", () => {
  const cache = new Map();
  assert.equal(keep(cache, "a", null, 2), null); // never sent
  keep(cache, "a", "A", 2);
  keep(cache, "b", "B", 2);
  assert.equal(keep(cache, "a", null, 2), "A"); // found by id; now the newest
  keep(cache, "c", "C", 2); // b is the oldest: dropped
  assert.deepEqual([...cache.keys()], ["a", "c"]);
  assert.equal(keep(cache, "b", null, 2), null);
  assert.equal(keep(cache, "a", "A2", 2), "A2"); // sent again: the new arrays win
});

test("one live instance per key: a new mount tears the last down, a late teardown is a no-op", () => {
  const log = [];
  const first = mountOnce("k", () => () => log.push("first down"));
  const second = mountOnce("k", () => () => log.push("second down"));
  assert.deepEqual(log, ["first down"]);
  first(); // Streamlit's cleanup of the replaced instance, late
  assert.deepEqual(log, ["first down"]);
  second();
  second();
  assert.deepEqual(log, ["first down", "second down"]);
});
