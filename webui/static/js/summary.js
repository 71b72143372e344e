// The call's summary, shown when the call has ended.

import { $ } from "./dom.js";
import { clock } from "./format.js";
import { closePopOut } from "./popout.js";
import { stageLabel } from "./stages.js";

// showSummary shows sum (the summary event or the stored session's
// summary; null when neither could be had) with a link to the replay of
// session id.
export function showSummary(sum, id) {
  closePopOut();
  $("#live").hidden = true;
  $("#popout").hidden = true;
  document.body.dataset.phase = "ended";
  $("#replay").href = id ? `/sessions/${encodeURIComponent(id)}` : "/sessions";
  const dl = $("#summary-metrics");
  dl.replaceChildren();
  const m = sum?.metrics;
  if (m) {
    const rows = [
      ["Call length", clock(m.duration_ms)],
      ["Your talk share", `${Math.round(m.rep_share * 100)}%`],
      ["Your longest monologue", clock(m.longest_rep_monologue_ms)],
      ["Their longest story", clock(m.longest_prospect_monologue_ms)],
      ["Your questions", String(m.rep_questions ?? 0)],
      ["Cues taken", `${m.cues_taken} of ${m.cues_fired}`],
      ["Furthest stage", m.furthest_stage ? stageLabel(m.furthest_stage) : "–"],
    ];
    for (const [k, v] of rows) {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = v;
      div.append(dt, dd);
      dl.append(div);
    }
  } else {
    const p = document.createElement("p");
    p.textContent = "The summary is not available; the replay has what was recorded.";
    dl.append(p);
  }
  $("#summary-stages").replaceChildren(...(sum?.stages || []).map((s) => {
    const li = document.createElement("li");
    li.textContent = `${stageLabel(s.stage)} at ${clock(s.start_ms)}${s.evidence ? `: “${s.evidence}”` : ""}`;
    return li;
  }));
  $("#summary-cues").replaceChildren(...(sum?.cues || []).map((c) => {
    const li = document.createElement("li");
    li.dataset.cue = c.cue;
    const mark = c.outcome === "taken" ? "✓ taken" : c.outcome === "missed" ? "✕ missed" : c.outcome || "open";
    li.textContent = `${clock(c.at_ms)} ${c.title || c.cue} (${mark})${c.evidence ? `: “${c.evidence}”` : ""}`;
    return li;
  }));
  $("#summary").hidden = false;
  $("#summary-h").focus();
}
