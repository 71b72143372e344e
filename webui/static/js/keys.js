// The overlay's keys (listed in index.html's help): which action a key
// press asks for. Keys typed into a form field and chords with Ctrl, Meta
// or Alt are the browser's.

const ACTIONS = {
  Escape: "dismiss",
  d: "dismiss",
  t: "transcript",
  p: "popout",
  l: "theme",
  S: "stop",
  "?": "help",
};

const FIELDS = new Set(["INPUT", "SELECT", "TEXTAREA"]);

// keyAction returns the action of a keydown event e, or "" for none.
export function keyAction(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return "";
  if (FIELDS.has(e.target?.tagName)) return "";
  return Object.hasOwn(ACTIONS, e.key) ? ACTIONS[e.key] : "";
}
