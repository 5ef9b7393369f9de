// The one window-wide object of this app's components: what must outlive a component's
// function (Streamlit calls it again on every rerun that carries the element, and a page
// switch unmounts it) but not a reload. Everything else is module scope.
//
// The modules are served per component (/_stcore/bidi-components/<component>/lib/...), so
// two components importing lib/lru.js get two module instances: what they share lives here.
const root = (globalThis.vaeExplorer ??= { live: new Map(), stores: new Map() });

export function store(name) {
  // A Map kept for the window under `name` (weights by id, the pad's drawings by key...).
  let map = root.stores.get(name);
  if (!map) root.stores.set(name, (map = new Map()));
  return map;
}

export function mountOnce(key, mount) {
  // Streamlit may call a component again (new data) without tearing the last call down
  // first: the previous instance of `key` is torn down, then mount() runs. Returns the
  // teardown Streamlit calls (it may call it after a later mount replaced it: then a no-op).
  root.live.get(key)?.();
  const teardown = mount();
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    if (root.live.get(key) === once) root.live.delete(key);
    if (teardown) teardown();
  };
  root.live.set(key, once);
  return once;
}

export function mark(name, detail) {
  // The latest `name` on the performance timeline (DevTools shows it; tests and benches read
  // it with performance.getEntriesByName): only the last one is kept, so marks never pile up.
  performance.clearMarks(name);
  performance.mark(name, { detail });
}
