// Keyboard shortcuts for presenter mode: a key pressed anywhere on the page is sent to Python as
// a trigger {action, at}, unless the user is typing in a field. Mounted by
// ui/components/shortcuts.py, which maps the actions to widget keys in a callback.
//
// In presenter mode it also reports the window's size (state "viewport"), so that the map can
// be a fixed share of the projector's height: only when it differs from what Python knows,
// and not at once, so that the page's first run (which may be setting widgets from a link)
// is not cut short by the rerun a report asks for.
import { mountOnce } from "./lib/registry.js";

const FIRST_REPORT_MS = 1500;
const TEXT_INPUTS = new Set(["", "text", "search", "number", "email", "password", "url", "tel"]);

export function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.closest("textarea, select, [role='textbox']")) return true;
  if (target.tagName === "INPUT") return TEXT_INPUTS.has((target.getAttribute("type") || "").toLowerCase());
  return false;
}

function usesArrows(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, [role='slider'], [role='radio'], [role='tab'], [role='listbox']"));
}

export default function mountShortcuts({ data, key, setTriggerValue, setStateValue }) {
  return mountOnce(key, () => mount(data, setTriggerValue, setStateValue));
}

function mount(data, setTriggerValue, setStateValue) {
  // data = [{key name: action}, [width, height] last reported or null]: a list, not a dict, so
  // that Streamlit does not look for data frames in it.
  const [bindings, known, wantsViewport] = data;
  let timer = null;

  function onKeyDown(event) {
    if (event.defaultPrevented || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    const name = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const action = bindings[name];
    if (!action) return;
    if (name.startsWith("Arrow") && usesArrows(event.target)) return;
    event.preventDefault();
    setTriggerValue("key", { action, at: Date.now() });
  }

  function report() {
    const size = [window.innerWidth, window.innerHeight];
    if (!known || known[0] !== size[0] || known[1] !== size[1]) setStateValue("viewport", size);
  }

  function onResize() {
    clearTimeout(timer);
    timer = setTimeout(report, 400);
  }

  document.addEventListener("keydown", onKeyDown, true);
  if (wantsViewport) {
    window.addEventListener("resize", onResize);
    timer = setTimeout(report, FIRST_REPORT_MS);
  }
  return () => {
    document.removeEventListener("keydown", onKeyDown, true);
    window.removeEventListener("resize", onResize);
    clearTimeout(timer);
  };
}
