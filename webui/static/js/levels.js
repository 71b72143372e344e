// The audio level of each side and the warning that a side cannot be
// heard.

import { SIDES } from "./capture.js";
import { $ } from "./dom.js";

const METER_EVERY_MS = 100; // ten DOM updates a second

// LevelMeters draws the taps' levels; hearing (capture.js) decides what is
// heard and what is silent.
export class LevelMeters {
  #hearing;
  #meterAt = 0;
  #peaks = { rep: 0, prospect: 0 };

  constructor(hearing) {
    this.#hearing = hearing;
  }

  // level takes one tap reading; warn says whether the can't-hear
  // warnings apply (the call is live).
  level(side, rms, peak, warn) {
    const now = performance.now();
    const h = this.#hearing;
    h.level(side, rms, now);
    this.#peaks[side] = Math.max(this.#peaks[side], peak);
    if (now - this.#meterAt < METER_EVERY_MS) return;
    this.#meterAt = now;
    for (const s of SIDES) {
      const box = $(`#level-${s}`);
      $("meter", box).value = Math.min(1, Math.sqrt(this.#peaks[s]));
      this.#peaks[s] = 0;
      const heard = h.heard(s, now);
      const silent = h.silent(s, now);
      box.dataset.heard = heard ? "yes" : silent ? "no" : "";
      $(".heard", box).textContent = heard ? "heard" : silent ? "silent" : "quiet";
    }
    if (warn) {
      $("#hear-prospect").hidden = !h.silent("prospect", now);
      $("#hear-rep").hidden = !h.silent("rep", now);
    }
  }
}
