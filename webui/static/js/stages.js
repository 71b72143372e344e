// The stage stepper: the playbook's conversation stages in order, the
// current one marked (in words too, for a screen reader and a tooltip).

import { $ } from "./dom.js";

// STAGE_LABELS names the contract's stages; a playbook's own stage shows
// its id.
export const STAGE_LABELS = {
  rapport: "Rapport",
  discovery: "Discovery",
  future: "Future",
  relationship: "Relationship",
  commitment: "Commitment",
};

// stageLabel names a stage for the rep.
export const stageLabel = (s) => STAGE_LABELS[s] || s;

// StageStepper draws the stages of the playbook (or the contract's when
// the playbook lists none) and follows stage events.
export class StageStepper {
  #stages;
  #current = "";

  constructor(stages) {
    this.#stages = stages?.length ? stages : Object.keys(STAGE_LABELS);
    $("#stages").replaceChildren(...this.#stages.map((s) => {
      const li = document.createElement("li");
      li.dataset.stage = s;
      li.textContent = stageLabel(s);
      return li;
    }));
    this.#draw();
  }

  // update shows a stage event: its stage is current, the earlier ones done.
  update(ev) {
    this.#current = ev.stage;
    this.#draw();
    const li = $(`#stages li[data-stage="${CSS.escape(ev.stage)}"]`);
    if (li && ev.evidence) li.title = `current stage: “${ev.evidence}”`;
  }

  #draw() {
    const cur = this.#stages.indexOf(this.#current);
    for (const li of $("#stages").children) {
      const i = this.#stages.indexOf(li.dataset.stage);
      li.dataset.state = i < cur ? "done" : i === cur ? "current" : "todo";
      if (i === cur) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
      li.title = i < cur ? "done" : i === cur ? "current stage" : "not yet";
    }
  }
}
