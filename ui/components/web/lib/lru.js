// Least-recently-used, by content id: what the browser keeps of large arrays (network
// weights, bubble data) so that later payloads carry the id only.

export function keep(cache, id, sent, size) {
  // `sent` (this payload's arrays, or null), else the ones kept under `id` (null: neither).
  // Whatever is returned becomes the newest; past `size` entries the oldest go. `cache` is a
  // Map (insertion order is age), e.g. registry.store(...).
  const value = sent || cache.get(id) || null;
  if (value) {
    cache.delete(id);
    cache.set(id, value);
    while (cache.size > size) cache.delete(cache.keys().next().value);
  }
  return value;
}
