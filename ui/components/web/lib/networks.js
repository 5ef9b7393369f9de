// The networks this window holds, by content id: the Latent map's decoder and the drawing
// pad's encoder and decoder share them (a decoder sent to one page is here for the other).
import { keep } from "./lru.js";
import { withArrays } from "./net.js";
import { store } from "./registry.js";

export const CACHE_SIZE = 4; // networks kept (the default MNIST MLP's decoder is 2.1 MB of floats)

export function loadNetwork(head, floats) {
  // A payload's network {id, weights, ops} (+ its array when weights) -> its ops with their
  // arrays, sent now or kept from before; null when neither (or no network).
  if (!head) return null;
  const sent = head.weights && floats ? withArrays(head.ops, floats) : null;
  return keep(store("networks"), head.id, sent, CACHE_SIZE);
}
