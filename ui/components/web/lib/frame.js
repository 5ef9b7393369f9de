// A frame as runner/frames.py writes it (the one format for child processes and for the
// browser): uint32 big-endian header length, the JSON header, then the raw little-endian
// buffers of the arrays that header.arrays names ({name, dtype, shape}), in order.
const TYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function parseFrame(bytes) {
  // -> { header (without .arrays), arrays: { name: typed array (flat) } }
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const n = new DataView(u8.buffer, u8.byteOffset, u8.byteLength).getUint32(0, false);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(4, 4 + n)));
  const arrays = {};
  let at = 4 + n;
  for (const { name, dtype, shape } of header.arrays || []) {
    const Type = TYPES[dtype];
    if (!Type) throw new Error(`frame: unknown dtype ${dtype} for ${name}`);
    const size = shape.reduce((a, b) => a * b, 1) * Type.BYTES_PER_ELEMENT;
    if (at + size > u8.byteLength) throw new Error(`frame: ${name} runs past the end`);
    // A copy: a typed array needs its element alignment, which the frame does not keep.
    arrays[name] = new Type(u8.slice(at, at + size).buffer);
    at += size;
  }
  if (at !== u8.byteLength) throw new Error(`frame: ${u8.byteLength - at} bytes left over`);
  delete header.arrays;
  return { header, arrays };
}
