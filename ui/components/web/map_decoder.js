// The decoder in the browser: a click on the latent map shows the picture of the clicked z
// at once, with no server round trip. Mounted by ui/components/map_decoder.py outside the
// map's fragment; web/map_layer.js announces clicks with a "vx-map-click" window event.
// The weights come once per browser session and model: they are kept by their content id
// (lib/networks.js, shared with the drawing pad), and later payloads carry the
// header only. A header whose weights are not here (evicted, or a payload never arrived) asks
// for them with the "need" trigger; until they come, the box stays empty.
//
// data: a frame (lib/frame.js) with header {decoder: {id, weights, ops}, likelihood,
// image_shape, pixels, target, z} and, when decoder.weights, the array "decoder" (the ops'
// arrays, lib/net.js). The picture is made as ui/latent_images.to_image makes it.
import { parseFrame } from "./lib/frame.js";
import { expectation } from "./lib/net.js";
import { loadNetwork } from "./lib/networks.js";
import { greyLevels, paintGrey } from "./lib/picture.js";
import { mountOnce } from "./lib/registry.js";

export function loadDecoder(bytes) {
  // The payload -> { header, ops } (ops null: the browser has no weights for it).
  const { header, arrays } = parseFrame(bytes);
  return { header, ops: loadNetwork(header.decoder, arrays.decoder) };
}

export function pictureURL(model, z) {
  // A PNG data URL of the decoded picture of z, upscaled nearest-neighbour to header.pixels.
  const [h, w] = model.header.image_shape;
  const scale = Math.max(1, Math.floor(model.header.pixels / Math.max(h, w)));
  const canvas = document.createElement("canvas");
  paintGrey(canvas, greyLevels(expectation(model.ops, model.header.likelihood, z)), [h, w], scale);
  return canvas.toDataURL("image/png");
}

export default function mountDecoder({ data, key, parentElement, setTriggerValue }) {
  return mountOnce(key, () => mount(loadDecoder(data), parentElement, setTriggerValue));
}

function mount(model, parentElement, setTriggerValue) {
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
    setTriggerValue("need", model.header.decoder.id);
  } else if (model.header.z) {
    show(model.header.z);
  }

  const onClick = (e) => {
    if (!e.detail || e.detail.target !== target) return;
    if (e.detail.z) show(e.detail.z);
    else hide(); // a double-click took back the first click, and there was none before
  };
  window.addEventListener("vx-map-click", onClick);
  return () => window.removeEventListener("vx-map-click", onClick);
}
