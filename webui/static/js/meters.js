// The talk meters: the rep's talk share (whole call and recent window)
// against the healthy band, and the monologue timer. The limits come from
// the server (talk.js).

import { $ } from "./dom.js";
import { duration } from "./format.js";
import { monologue, shareVerdict } from "./talk.js";

// TalkMeters shows talk events against the playbook's talk settings.
export class TalkMeters {
  #talk;

  // talk is talkSettings() of the server's playbook; the bands and the
  // window's length are drawn at once.
  constructor(talk) {
    this.#talk = talk;
    const [lo, hi] = talk.band;
    for (const id of ["#share-call", "#share-window"]) {
      const band = $(`${id} .band`);
      band.style.left = `${lo * 100}%`;
      band.style.width = `${(hi - lo) * 100}%`;
    }
    $("#share-window .window-len").textContent = duration(talk.windowMs, true);
  }

  // update shows a talk event.
  update(ev) {
    const any = ev.rep_ms + ev.prospect_ms > 0;
    this.#share("#share-call", ev.rep_share, any);
    this.#share("#share-window", ev.window_rep_share, any);
    const el = $("#mono");
    const m = monologue(ev, this.#talk);
    el.dataset.level = m.level;
    $(".mono-who", el).textContent = m.who;
    $(".mono-time", el).textContent = m.time;
    $(".mono-note", el).textContent = m.note;
  }

  #share(sel, share, any) {
    const el = $(sel);
    if (!any || typeof share !== "number") {
      $(".value", el).textContent = "–";
      $(".verdict", el).textContent = "";
      el.dataset.verdict = "";
      return;
    }
    $(".value", el).textContent = `${Math.round(share * 100)}%`;
    $(".fill", el).style.width = `${Math.min(100, share * 100)}%`;
    const v = shareVerdict(share, this.#talk.band);
    el.dataset.verdict = v.verdict;
    $(".verdict", el).textContent = v.text;
  }
}
