// The cue card and the list of earlier cues: the page's side of the cue
// queue (cues.js).

import { $ } from "./dom.js";
import { outcomeText } from "./cues.js";
import { clock } from "./format.js";

// CueCard is the view a CueQueue drives.
export class CueCard {
  #items = new Map(); // cue id -> its history item

  show(ev) {
    const el = $("#cue");
    el.dataset.state = "shown";
    el.dataset.cue = ev.cue;
    el.dataset.id = ev.id;
    el.dataset.priority = String(ev.priority || "");
    $(".cue-priority", el).textContent = ev.priority === 1 ? "Now" : "Cue";
    $(".cue-outcome", el).textContent = "";
    $(".cue-title", el).textContent = ev.title || ev.cue;
    $(".cue-words", el).textContent = ev.body || "";
    const q = $(".cue-evidence", el);
    q.textContent = ev.evidence || "";
    q.dataset.speaker = ev.speaker || "";
  }

  taken() {
    const el = $("#cue");
    el.dataset.state = "taken";
    $(".cue-outcome", el).textContent = "✓ Done: nice.";
  }

  revised(ev, verdict) {
    const el = $("#cue");
    if (verdict === "refined") $(".cue-words", el).textContent = ev.body || "";
    $(".cue-outcome", el).textContent = verdict === "confirmed" ? "✓ confirmed" : "✎ refined";
  }

  empty() {
    const el = $("#cue");
    el.dataset.state = "empty";
    delete el.dataset.cue;
    delete el.dataset.id;
    delete el.dataset.priority;
  }

  history(rec) {
    const { ev } = rec;
    const li = document.createElement("li");
    li.dataset.id = ev.id;
    li.dataset.cue = ev.cue;
    const title = document.createElement("span");
    title.className = "h-title";
    title.textContent = ev.title || ev.cue;
    const at = document.createElement("span");
    at.className = "h-outcome";
    const q = document.createElement("q");
    q.className = "h-evidence";
    q.textContent = ev.evidence || "";
    li.append(title, " ", at, " ", q);
    this.#items.set(ev.id, li);
    this.outcome(rec);
    const list = $("#history .history-list");
    list.prepend(li);
    $("#history .count").textContent = String(list.children.length);
  }

  outcome(rec) {
    const li = this.#items.get(rec.ev.id);
    if (!li) return;
    $(".h-outcome", li).textContent = `(${clock(rec.ev.at_ms || 0)}, ${outcomeText(rec)})`;
    li.dataset.outcome = rec.outcome || "open";
  }
}
