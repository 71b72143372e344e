// Finding the overlay's elements, in the page or in the floating window
// the live view was moved into.

import { popOutDocument } from "./popout.js";

// $ finds an element under root, or in the page, or in the floating window.
export function $(sel, root) {
  if (root) return root.querySelector(sel);
  return document.querySelector(sel) ?? popOutDocument()?.querySelector(sel) ?? null;
}

// showAlert shows text in the alert sel; kind ("info", "warn", "bad")
// sets its colour, and the text says the same in words.
export function showAlert(sel, kind, text) {
  const el = $(sel);
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = false;
}
