// The colour theme (auto follows the system; dark; light), kept in
// localStorage and followed by the floating window, and the keyboard help.

import { $ } from "./dom.js";
import { setPopOutTheme } from "./popout.js";

const THEMES = ["auto", "dark", "light"];

// applyTheme switches to theme t (an unknown one is auto) and returns it.
export function applyTheme(t) {
  if (!THEMES.includes(t)) t = "auto";
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  setPopOutTheme(document.documentElement.dataset.theme || "");
  $("#theme").textContent = `Theme: ${t}`;
  localStorage.setItem("cuecard-theme", t);
  return t;
}

// cycleTheme switches to the next theme.
export function cycleTheme() {
  const cur = document.documentElement.dataset.theme || "auto";
  applyTheme(THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length]);
}

// toggleHelp shows or hides the list of keys.
export function toggleHelp() {
  const h = $("#help");
  h.hidden = !h.hidden;
  $("#help-btn").setAttribute("aria-expanded", String(!h.hidden));
}
