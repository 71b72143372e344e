// Formatting of media time. Run with `node --test`.

import assert from "node:assert/strict";
import { test } from "node:test";

import { clock, duration } from "../static/js/format.js";

test("clock", () => {
  for (const [ms, want] of [[0, "0:00"], [undefined, "0:00"], [-5, "0:00"], [999, "0:00"], [61000, "1:01"], [3600000, "60:00"]]) {
    assert.equal(clock(ms), want, String(ms));
  }
});

test("duration", () => {
  for (const [ms, short, want] of [
    [180000, true, "3 min"], [120000, false, "2 min"], [90000, true, "90 s"], [90000, false, "1 min 30 s"],
  ]) {
    assert.equal(duration(ms, short), want, `${ms} ${short}`);
  }
});
