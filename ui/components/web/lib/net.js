// The one neural-network interpreter of the browser: the encoder of the drawing pad and the
// decoder of the Latent map run here, layer by layer in double precision, exactly as torch
// runs the layers ui/components/network.py serialised (linear W is (out x in), conv2d W
// (cout x cin x k x k), conv_transpose W (cin x cout x k x k), each followed by its bias).
// The elementwise ops are those of an imported ONNX chain (vae/foreign/layers.py) and of the
// app's own models.

export function withArrays(ops, floats) {
  // The ops with their W and b: views into `floats` (the network's arrays, in op order).
  let at = 0;
  const take = (count) => floats.subarray(at, (at += count));
  const out = ops.map((op) => {
    if (op.op === "linear") return { ...op, W: take(op.in * op.out), b: take(op.out) };
    if (op.op === "conv2d" || op.op === "conv_transpose")
      return { ...op, W: take(op.cout * op.cin * op.k * op.k), b: take(op.cout) };
    return op;
  });
  if (at !== floats.length) throw new Error(`network: ${floats.length} floats sent, the ops use ${at}`);
  return out;
}

const sigmoid = (s) => 1 / (1 + Math.exp(-s));
// torch's softplus (threshold 20: above it, the identity)
const softplus = (s) => (s > 20 ? s : Math.log1p(Math.exp(s)));

const ELEMENTWISE = {
  silu: () => (s) => s / (1 + Math.exp(-s)),
  relu: () => (s) => Math.max(s, 0),
  leaky_relu: (op) => (s) => (s >= 0 ? s : op.alpha * s),
  tanh: () => Math.tanh,
  sigmoid: () => sigmoid,
  softplus: () => softplus,
  affine: (op) => (s) => s * op.scale + op.shift,
};

function linear(x, { in: n, out: m, W, b }) {
  const out = new Float64Array(m);
  for (let o = 0; o < m; o++) {
    let s = b[o];
    const row = o * n;
    for (let i = 0; i < n; i++) s += W[row + i] * x[i];
    out[o] = s;
  }
  return out;
}

export function conv2d(x, [cin, h, w], { cout, k, stride, pad, W, b }) {
  // torch's Conv2d: out[co, oy, ox] = b[co] + sum W[co, ci, ky, kx] x[ci, oy*s - p + ky, ox*s - p + kx]
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const out = new Float64Array(cout * oh * ow);
  for (let co = 0; co < cout; co++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let s = b[co];
        for (let ci = 0; ci < cin; ci++) {
          const wBase = (co * cin + ci) * k * k;
          const xBase = ci * h * w;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * stride - pad + kx;
              if (ix >= 0 && ix < w) s += W[wBase + ky * k + kx] * x[xBase + iy * w + ix];
            }
          }
        }
        out[(co * oh + oy) * ow + ox] = s;
      }
    }
  }
  return [out, [cout, oh, ow]];
}

export function convTranspose(x, [cin, h, w], { cout, k, stride, pad, W, b }) {
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

export function run(ops, input) {
  // input (n,) -> the last layer's output, flat (Float64Array).
  let x = Float64Array.from(input);
  let shape = [x.length];
  for (const op of ops) {
    if (op.op === "linear") [x, shape] = [linear(x, op), [op.out]];
    else if (op.op in ELEMENTWISE) x = x.map(ELEMENTWISE[op.op](op));
    else if (op.op === "unflatten") shape = op.shape;
    else if (op.op === "flatten") shape = [x.length];
    else if (op.op === "conv2d") [x, shape] = conv2d(x, shape, op);
    else if (op.op === "conv_transpose") [x, shape] = convTranspose(x, shape, op);
    else throw new Error(`unknown network op ${op.op}`);
  }
  return x;
}

export function expectation(ops, likelihood, z) {
  // The decoder's E[x | z] (D,): its output, through a sigmoid for a Bernoulli likelihood.
  const out = run(ops, z);
  return likelihood === "bernoulli" ? out.map(sigmoid) : out;
}

export function boundLogvar({ kind, max }, t) {
  // log sigma^2 bounded as VAE.encode bounds it (ui/components/network.posterior_bound):
  // "clamp" min(t, max), "softclamp" the sigma soft clamp max - softplus(max - t), else t.
  if (kind === "clamp") return Math.min(t, max);
  if (kind === "softclamp") return max - softplus(max - t);
  return t;
}

export function posterior(ops, bound, x) {
  // x (D,) -> { mu (k,), logvar (k,), sigma (k,) }: the encoder's head gives [mu, log sigma^2].
  const out = run(ops, x);
  const k = out.length / 2;
  const mu = Array.from(out.subarray(0, k));
  const logvar = Array.from(out.subarray(k), (t) => boundLogvar(bound, t));
  return { mu, logvar, sigma: logvar.map((t) => Math.exp(0.5 * t)) };
}
