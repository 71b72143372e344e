// The overlay's keys. Run with `node --test`.

import assert from "node:assert/strict";
import { test } from "node:test";

import { keyAction } from "../static/js/keys.js";

test("keyAction", () => {
  const key = (k, more = {}) => ({ key: k, target: { tagName: "BODY" }, ...more });
  for (const [name, e, want] of [
    ["Esc dismisses", key("Escape"), "dismiss"],
    ["D dismisses", key("d"), "dismiss"],
    ["T toggles the transcript", key("t"), "transcript"],
    ["P pops out", key("p"), "popout"],
    ["L switches theme", key("l"), "theme"],
    ["Shift+S stops", key("S"), "stop"],
    ["s alone does not stop", key("s"), ""],
    ["? shows the keys", key("?"), "help"],
    ["other keys do nothing", key("x"), ""],
    ["inherited names are not keys", key("toString"), ""],
    ["Ctrl is the browser's", key("d", { ctrlKey: true }), ""],
    ["Meta is the browser's", key("p", { metaKey: true }), ""],
    ["Alt is the browser's", key("l", { altKey: true }), ""],
    ["typing in a field", key("d", { target: { tagName: "INPUT" } }), ""],
    ["choosing in a list", key("t", { target: { tagName: "SELECT" } }), ""],
    ["typing in a text area", key("S", { target: { tagName: "TEXTAREA" } }), ""],
    ["no target", { key: "Escape" }, "dismiss"],
  ]) {
    assert.equal(keyAction(e), want, name);
  }
});
