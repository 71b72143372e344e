// How the overlay reads talk events against the server's talk settings.
// Run with `node --test`.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { monologue, shareVerdict, talkSettings } from "../static/js/talk.js";

// A playbook description as GET /v1/playbook answers, with settings
// unlike the default playbook's so that a copy of those cannot pass.
const playbook = {
  name: "test",
  stages: ["rapport"],
  talk: {
    window_ms: 120000, pause_ms: 1500, backchannel_ms: 1000, interval_ms: 500,
    healthy_rep_share: [0.2, 0.4], monologue_warn_ms: 10000, monologue_limit_ms: 20000,
  },
};

describe("talkSettings", () => {
  test("takes the band and limits from the server", () => {
    assert.deepEqual(talkSettings(playbook), { band: [0.2, 0.4], warnMs: 10000, limitMs: 20000, windowMs: 120000 });
  });

  for (const [name, pb] of [
    ["no playbook", null],
    ["no talk section", { stages: [] }],
    ["no band", { talk: { ...playbook.talk, healthy_rep_share: undefined } }],
    ["a band of one number", { talk: { ...playbook.talk, healthy_rep_share: [0.3] } }],
    ["no monologue limit", { talk: { ...playbook.talk, monologue_limit_ms: 0 } }],
    ["no warning", { talk: { ...playbook.talk, monologue_warn_ms: undefined } }],
    ["no window", { talk: { ...playbook.talk, window_ms: undefined } }],
  ]) {
    test(`refuses ${name}`, () => {
      assert.throws(() => talkSettings(pb), /no talk settings/);
    });
  }
});

describe("shareVerdict", () => {
  const band = [0.2, 0.4];
  for (const [share, verdict, text] of [
    [0.41, "high", "▲ above the healthy 20–40%: let them talk"],
    [0.4, "ok", "✓ in the healthy 20–40%"],
    [0.3, "ok", "✓ in the healthy 20–40%"],
    [0.2, "ok", "✓ in the healthy 20–40%"],
    [0.19, "low", "▼ below the healthy 20–40%"],
  ]) {
    test(`${share}`, () => {
      assert.deepEqual(shareVerdict(share, band), { verdict, text });
    });
  }
});

describe("monologue", () => {
  const limits = talkSettings(playbook);
  const talk = (speaker, ms) => ({ type: "talk", monologue_speaker: speaker, monologue_ms: ms });
  for (const [name, ev, want] of [
    ["nobody", talk("", 0), { level: "none", who: "Nobody holds the floor", time: "", note: "" }],
    ["the prospect", talk("prospect", 65000), { level: "listen", who: "They're talking", time: "1:05", note: "Keep listening." }],
    ["the rep, short", talk("rep", 9999), { level: "ok", who: "You've held the floor", time: "0:09", note: "" }],
    ["the rep at the warning", talk("rep", 10000), { level: "warn", who: "You've held the floor", time: "0:10", note: "Wrap up: 10 s to the limit." }],
    ["the rep near the limit", talk("rep", 18500), { level: "warn", who: "You've held the floor", time: "0:18", note: "Wrap up: 2 s to the limit." }],
    ["the rep at the limit", talk("rep", 20000), { level: "over", who: "You've held the floor", time: "0:20", note: "Over the limit: stop and ask a question." }],
  ]) {
    test(name, () => {
      assert.deepEqual(monologue(ev, limits), want);
    });
  }
});
