// Talk settings and how the overlay reads a talk event against them. The
// settings are the playbook's `talk:` section as the server reports it
// (GET /v1/playbook); the page keeps no copy of their defaults.

import { clock } from "./format.js";

// talkSettings returns the healthy band and monologue limits of a
// playbook description; it throws when the server sent none.
export function talkSettings(playbook) {
  const t = playbook?.talk;
  const band = t?.healthy_rep_share;
  if (!Array.isArray(band) || band.length !== 2 || !(t.monologue_warn_ms > 0) || !(t.monologue_limit_ms > 0) || !(t.window_ms > 0)) {
    throw new Error("the server sent no talk settings");
  }
  return { band: [band[0], band[1]], warnMs: t.monologue_warn_ms, limitMs: t.monologue_limit_ms, windowMs: t.window_ms };
}

// shareVerdict compares a rep talk share with the healthy band: verdict
// is "high", "low" or "ok", text says so in words (never colour alone).
export function shareVerdict(share, [lo, hi]) {
  const band = `${Math.round(lo * 100)}–${Math.round(hi * 100)}%`;
  if (share > hi) return { verdict: "high", text: `▲ above the healthy ${band}: let them talk` };
  if (share < lo) return { verdict: "low", text: `▼ below the healthy ${band}` };
  return { verdict: "ok", text: `✓ in the healthy ${band}` };
}

// monologue says who holds the floor and, for the rep, how close they are
// to the limit: level is "none", "ok", "warn", "over" or "listen".
export function monologue(ev, { warnMs, limitMs }) {
  const ms = ev.monologue_ms || 0;
  if (ev.monologue_speaker === "rep") {
    const out = { level: "ok", who: "You've held the floor", time: clock(ms), note: "" };
    if (ms >= limitMs) {
      out.level = "over";
      out.note = "Over the limit: stop and ask a question.";
    } else if (ms >= warnMs) {
      out.level = "warn";
      out.note = `Wrap up: ${Math.ceil((limitMs - ms) / 1000)} s to the limit.`;
    }
    return out;
  }
  if (ev.monologue_speaker === "prospect") {
    return { level: "listen", who: "They're talking", time: clock(ms), note: "Keep listening." };
  }
  return { level: "none", who: "Nobody holds the floor", time: "", note: "" };
}
