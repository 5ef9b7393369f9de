// A decoded picture as the server draws it (ui/latent_images.to_image): stretched when its
// values leave [0, 1], clipped, x255 rounded, shown with crisp pixels.

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

export function paintGrey(canvas, levels, [h, w], scale = 1) {
  // uint8 levels (h*w,) onto `canvas`, each pixel a scale x scale block (scale 1: native size,
  // for CSS to upscale with crisp pixels).
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
}
