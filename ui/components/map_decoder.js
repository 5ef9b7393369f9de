// The decoder in the browser: a click on the latent map shows the picture of the clicked z
// at once, with no server round trip. Mounted by ui/components/map_decoder.py outside the map's fragment.
// The weights come once per browser session and model: they are kept here by their content
// id (header.id, at most CACHE_SIZE decoders), and later payloads carry the header only. A
// header whose weights are not here (evicted, or a payload never arrived) asks for them with
// the "need" trigger; until they come, the box stays empty.
//
// data: bytes = uint32 header length (little-endian), the JSON header, and, when
// header.weights, zero padding to a multiple of 4, then the float32 little-endian arrays of
// header.ops in order (see ui/map_decoder.decoder_ops): linear W (out x in) and b,
// conv_transpose W (cin x cout x k x k) and b; the elementwise ops of a foreign model's chain
// (vae/foreign/layers.py) carry no arrays. A sigmoid follows for a Bernoulli likelihood
// (E[x|z]). The picture is made exactly as ui/latent_images.to_image makes it (stretch if
// outside [0, 1], clip, x255 rounded, nearest-neighbour upscale).
const CACHE_SIZE = 4; // decoders kept (the default MNIST MLP is 2.1 MB of floats)

export function parsePayload(bytes) {
  // -> { header, ops }: ops with their arrays, or null when no weights follow the header.
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const n = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(4, 4 + n)));
  if (header.weights === false) return { header, ops: null };
  let offset = 4 + n;
  offset += (4 - (offset % 4)) % 4;
  // A copy into an aligned buffer: Float32Array needs 4-byte alignment of the whole buffer.
  const floats = new Float32Array(u8.slice(offset).buffer);
  let at = 0;
  const take = (count) => floats.subarray(at, (at += count));
  const ops = header.ops.map((op) => {
    if (op.op === "linear") return { ...op, W: take(op.in * op.out), b: take(op.out) };
    if (op.op === "conv_transpose")
      return { ...op, W: take(op.cin * op.cout * op.k * op.k), b: take(op.cout) };
    return op;
  });
  if (at !== floats.length)
    throw new Error(`decoder weights: ${floats.length} floats sent, the ops use ${at}`);
  return { header, ops };
}

export function weightCache() {
  // id -> ops with arrays, oldest first: one per window, so it outlives the component (a
  // page switch, a rerun) but not a reload.
  return (window.__vxDecoderWeights = window.__vxDecoderWeights || new Map());
}

export function loadModel(bytes) {
  // The payload -> { header, ops } with the weights it carries or the cached ones (ops null:
  // neither). Stored or used weights become the newest; past CACHE_SIZE the oldest go.
  const { header, ops: sent } = parsePayload(bytes);
  const cache = weightCache();
  const ops = sent || cache.get(header.id) || null;
  if (ops) {
    cache.delete(header.id);
    cache.set(header.id, ops);
    while (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
  }
  return { header, ops };
}

function convTranspose(x, [cin, h, w], { cout, k, stride, pad, W, b }) {
  // torch's ConvTranspose2d: out[co, iy*s - p + ky, ix*s - p + kx] += x[ci, iy, ix] W[ci, co, ky, kx]
  const oh = (h - 1) * stride - 2 * pad + k;
  const ow = (w - 1) * stride - 2 * pad + k;
  const out = new Float64Array(cout * oh * ow);
  for (let co = 0; co < cout; co++) out.fill(b[co], co * oh * ow, (co + 1) * oh * ow);
  for (let ci = 0; ci < cin; ci++) {
    for (let iy = 0; iy < h; iy++) {
      for (let ix = 0; ix < w; ix++) {
        const v = x[(ci * h + iy) * w + ix];
        if (v === 0) continue;
        for (let co = 0; co < cout; co++) {
          const wBase = (ci * cout + co) * k * k;
          for (let ky = 0; ky < k; ky++) {
            const oy = iy * stride - pad + ky;
            if (oy < 0 || oy >= oh) continue;
            const row = (co * oh + oy) * ow;
            for (let kx = 0; kx < k; kx++) {
              const ox = ix * stride - pad + kx;
              if (ox >= 0 && ox < ow) out[row + ox] += v * W[wBase + ky * k + kx];
            }
          }
        }
      }
    }
  }
  return [out, [cout, oh, ow]];
}

export function decode(model, z) {
  // z (k,) -> E[x|z] (D,): the decoder's layers in order, in double precision.
  let x = Float64Array.from(z);
  let shape = [x.length];
  for (const op of model.ops) {
    if (op.op === "linear") {
      const out = new Float64Array(op.out);
      for (let o = 0; o < op.out; o++) {
        let s = op.b[o];
        const row = o * op.in;
        for (let i = 0; i < op.in; i++) s += op.W[row + i] * x[i];
        out[o] = s;
      }
      [x, shape] = [out, [op.out]];
    } else if (op.op === "silu") {
      x = x.map((s) => s / (1 + Math.exp(-s)));
    } else if (op.op === "relu") {
      x = x.map((s) => Math.max(s, 0));
    } else if (op.op === "leaky_relu") {
      x = x.map((s) => (s >= 0 ? s : op.alpha * s));
    } else if (op.op === "tanh") {
      x = x.map(Math.tanh);
    } else if (op.op === "sigmoid") {
      x = x.map((s) => 1 / (1 + Math.exp(-s)));
    } else if (op.op === "softplus") {
      x = x.map((s) => (s > 20 ? s : Math.log1p(Math.exp(s))));
    } else if (op.op === "affine") {
      x = x.map((s) => s * op.scale + op.shift);
    } else if (op.op === "unflatten") {
      shape = op.shape;
    } else if (op.op === "conv_transpose") {
      [x, shape] = convTranspose(x, shape, op);
    } else if (op.op === "flatten") {
      shape = [x.length];
    } else {
      throw new Error(`unknown decoder op ${op.op}`);
    }
  }
  if (model.header.likelihood === "bernoulli") x = x.map((s) => 1 / (1 + Math.exp(-s)));
  return x;
}

export function greyLevels(x) {
  // (D,) -> uint8 levels (D,), as ui/latent_images.to_image: stretch if not in [0, 1].
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const stretch = lo < -0.05 || hi > 1.05;
  const span = hi - lo || 1;
  const levels = new Uint8ClampedArray(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = stretch ? (x[i] - lo) / span : x[i];
    levels[i] = Math.floor(Math.min(1, Math.max(0, v || 0)) * 255 + 0.5); // as viz.plots.to_uint8
  }
  return levels;
}

export function pictureURL(model, z) {
  // A PNG data URL of the decoded picture, upscaled nearest-neighbour to header.pixels.
  const [h, w] = model.header.image_shape;
  const scale = Math.max(1, Math.floor(model.header.pixels / Math.max(h, w)));
  const levels = greyLevels(decode(model, z));
  const canvas = document.createElement("canvas");
  canvas.width = w * scale;
  canvas.height = h * scale;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      const v = levels[Math.floor(y / scale) * w + Math.floor(x / scale)];
      const p = 4 * (y * canvas.width + x);
      img.data[p] = img.data[p + 1] = img.data[p + 2] = v;
      img.data[p + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL("image/png");
}

export default function mountDecoder({ data, key, parentElement, setTriggerValue }) {
  const registry = (window.__vxMapDecoder = window.__vxMapDecoder || {});
  if (registry[key]) registry[key]();
  const model = loadModel(data);
  const { target, pixels } = model.header;

  // A fixed-size box from the start: the first click fills it and nothing below moves. Until
  // then it is a placeholder that says what will appear, never an <img> without a picture
  // (a browser draws that as a broken image with its alt text).
  const root = document.createElement("figure");
  root.style.cssText = "margin:0;contain:layout paint;";
  const box = `display:block;width:${pixels}px;height:${pixels}px;background:#f0f2f6;`;
  const img = document.createElement("img");
  img.alt = "";
  img.width = pixels;
  img.height = pixels;
  img.style.cssText = box + "display:none;";
  const placeholder = document.createElement("div");
  placeholder.className = "vx-decoded-placeholder";
  placeholder.style.cssText =
    box + "display:flex;align-items:center;justify-content:center;text-align:center;" +
    "box-sizing:border-box;padding:0.75rem;border:1px dashed #c4c7cf;border-radius:4px;" +
    "font-size:0.85rem;color:rgba(49,51,63,0.65);";
  placeholder.textContent = "Click the map: the decoded picture of that z appears here";
  const caption = document.createElement("figcaption");
  caption.style.cssText = "font-size:0.85rem;color:rgba(49,51,63,0.6);margin-top:0.25rem;";
  root.append(placeholder, img, caption);
  parentElement.replaceChildren(root);

  const show = (z) => {
    // No weights (yet): never a stale picture. The "need" rerun brings them with the latest
    // clicked z in its header (the click was recorded before that rerun).
    if (!model.ops) return;
    img.src = pictureURL(model, z);
    img.alt = "decoded picture of the clicked z";
    img.style.display = "block";
    placeholder.style.display = "none";
    caption.textContent = `decoded E[x | z] at z = (${z[0].toFixed(3)}, ${z[1].toFixed(3)})`;
  };
  const hide = () => {
    img.style.display = "none";
    placeholder.style.display = "flex";
    caption.textContent = "";
  };
  if (!model.ops) {
    placeholder.textContent = "loading the decoder\u2026";
    setTriggerValue("need", model.header.id);
  } else if (model.header.z) {
    show(model.header.z);
  }

  const onClick = (e) => {
    if (!e.detail || e.detail.target !== target) return;
    if (e.detail.z) show(e.detail.z);
    else hide(); // a double-click took back the first click, and there was none before
  };
  window.addEventListener("vx-map-click", onClick);
  const teardown = () => {
    if (registry[key] === teardown) delete registry[key];
    window.removeEventListener("vx-map-click", onClick);
  };
  registry[key] = teardown;
  return teardown;
}

// The click panel (ui/components/click_panel.js) decodes with this code and these weights.
window.__vxDecoderCode = { decode, greyLevels, weightCache };
