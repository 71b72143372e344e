// The live transcript: one line per utterance, a partial hypothesis
// replaced by the next and by the final text.

import { $ } from "./dom.js";

const MAX_LINES = 300;

// showTranscript shows a transcript event.
export function showTranscript(ev) {
  const ol = $("#transcript .lines");
  const key = `${ev.speaker}:${ev.start_ms}`;
  let li = ol.querySelector(`li[data-key="${CSS.escape(key)}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.key = key;
    li.dataset.speaker = ev.speaker;
    const sp = document.createElement("span");
    sp.className = "sp";
    sp.textContent = ev.speaker === "rep" ? "You:" : "Them:";
    li.append(sp, document.createElement("span"));
    ol.append(li);
    while (ol.children.length > MAX_LINES) ol.firstElementChild.remove();
  }
  li.dataset.final = String(!!ev.final);
  li.lastElementChild.textContent = ev.text || "";
  if ($("#transcript").open) li.scrollIntoView({ block: "nearest" });
}

