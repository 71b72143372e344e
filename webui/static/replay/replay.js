// The replay page: both sides' audio with talk lanes, the synced
// transcript, the stage band, cue markers, comments, the talk-share chart
// and the metrics, loaded with one request (GET /v1/sessions/{id}/replay).
import WaveSurfer from "/vendor/wavesurfer/wavesurfer.esm.js";
import TimelinePlugin from "/vendor/wavesurfer/plugins/timeline.esm.js";
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { api, clock, el, pct, STAGE_NAMES } from "/replay/common.js";

import { userMenu } from "/account/menu.js";
import { canEditComment } from "/account/next.js";

const $ = (s) => document.querySelector(s);
const id = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const base = `/v1/sessions/${encodeURIComponent(id)}`;
const nonce = document.querySelector('meta[name="csp-nonce"]')?.content || "";
const css = getComputedStyle(document.documentElement);
const color = (v) => css.getPropertyValue(v).trim();

let data;          // the replay response
let durMS = 0;
let nowMS = 0;     // the playhead
const players = {}; // speaker -> WaveSurfer
let master = null;  // the WaveSurfer whose clock the page follows
let lines = [];     // transcript <li> with start/end, in order
let current = null;
let chart = null;
let cueBodies = {};
let viewer = null;  // the signed-in user (GET /v1/me)

// ---- player ------------------------------------------------------------

function seek(ms, play = false) {
  nowMS = Math.max(0, Math.min(ms, durMS));
  for (const ws of Object.values(players)) ws.setTime(nowMS / 1000);
  update(nowMS);
  if (play && master && !master.isPlaying()) togglePlay();
}

function togglePlay() {
  if (!master) return;
  const playing = master.isPlaying();
  for (const ws of Object.values(players)) {
    if (playing) ws.pause();
    else ws.play().catch(() => {});
  }
}

function makePlayer(sp, peaks, withTimeline) {
  const opts = {
    container: `#wave-${sp}`,
    height: 44,
    url: `${base}/audio?speaker=${sp}`,
    peaks: [peaks],
    duration: durMS / 1000,
    waveColor: color(`--${sp}`),
    progressColor: color("--muted"),
    cursorColor: color("--text"),
    cursorWidth: 2,
    barWidth: 2,
    barGap: 1,
    barRadius: 1,
    normalize: false,
    interact: true,
    dragToSeek: true,
    cspNonce: nonce,
    backend: "MediaElement",
    plugins: withTimeline ? [TimelinePlugin.create({ height: 16, style: { fontSize: "11px", color: color("--muted") } })] : [],
  };
  const ws = WaveSurfer.create(opts);
  ws.on("interaction", (t) => {
    nowMS = t * 1000;
    for (const [other, o] of Object.entries(players)) if (other !== sp) o.setTime(t);
    update(nowMS);
  });
  ws.on("error", (e) => { $("#audio-note").textContent = `The ${sp} recording could not be played (${e?.message || e}).`; });
  return ws;
}

// talkPeaks draws a side's talk lane from its speech segments: full bars
// where the side spoke, a hairline elsewhere. No audio is decoded, so an
// hour-long call costs nothing to draw.
function talkPeaks(sp) {
  const n = Math.max(200, Math.min(6000, Math.round(durMS / 250)));
  const peaks = new Float32Array(n).fill(0.02);
  for (const ev of data.events) {
    if (ev.type !== "speech" || ev.speaker !== sp) continue;
    const a = Math.floor((ev.start_ms / durMS) * n), b = Math.ceil((ev.end_ms / durMS) * n);
    for (let i = Math.max(0, a); i < Math.min(n, b); i++) peaks[i] = 0.85;
  }
  return peaks;
}

function setupAudio() {
  const sides = ["rep", "prospect"].filter((sp) => data.audio[sp]);
  ["rep", "prospect"].forEach((sp, i) => {
    const peaks = talkPeaks(sp);
    if (data.audio[sp]) players[sp] = makePlayer(sp, peaks, i === 1 || sides.length === 1);
    else {
      $(`#wave-${sp}`).replaceChildren(el("p", { class: "muted" }, "No recording of this side."));
      $(`#mute-${sp}`).disabled = true;
    }
  });
  master = players.rep || players.prospect || null;
  if (!master) {
    $("#audio-note").textContent = "This call has no recordings: the timeline and transcript still work.";
    return;
  }
  $("#play").disabled = false;
  master.on("timeupdate", (t) => {
    nowMS = t * 1000;
    for (const ws of Object.values(players)) {
      if (ws !== master && ws.isPlaying() && Math.abs(ws.getCurrentTime() - t) > 0.25) ws.setTime(t);
    }
    update(nowMS);
  });
  master.on("play", () => { $("#play").textContent = "❚❚ Pause"; });
  master.on("pause", () => { $("#play").textContent = "▶ Play"; });
  master.on("finish", () => { for (const ws of Object.values(players)) ws.pause(); });
  $("#play").addEventListener("click", togglePlay);
  for (const sp of ["rep", "prospect"]) {
    $(`#mute-${sp}`).addEventListener("change", (e) => players[sp]?.setMuted(e.target.checked));
  }
  $("#speed").addEventListener("change", (e) => {
    for (const ws of Object.values(players)) ws.setPlaybackRate(Number(e.target.value), true);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === " " && !e.target.closest("input, textarea, select, button, dialog")) { e.preventDefault(); togglePlay(); }
  });
}

// ---- timeline tracks ------------------------------------------------------

const at = (ms) => `${(100 * ms / durMS).toFixed(3)}%`;

function placed(node, ms, widthMS) {
  node.style.left = at(ms);
  if (widthMS != null) node.style.width = at(widthMS);
  return node;
}

function stageSpans() {
  const s = data.session.summary;
  if (s && s.stages && s.stages.length) return s.stages;
  const evs = data.events.filter((e) => e.type === "stage");
  return evs.map((e, i) => ({ stage: e.stage, start_ms: e.at_ms, end_ms: evs[i + 1]?.at_ms ?? durMS, evidence: e.evidence }));
}

function renderStages() {
  const track = $("#stages");
  const spans = stageSpans();
  if (!spans.length) { track.append(el("span", { class: "muted stage-seg" }, "no stage reached")); return; }
  for (const sp of spans) {
    const name = STAGE_NAMES[sp.stage] || sp.stage;
    const seg = el("button", { type: "button", class: "stage-seg", dataset: { stage: sp.stage },
      title: `${name} from ${clock(sp.start_ms)}${sp.evidence ? `: “${sp.evidence}”` : ""}`,
      "aria-label": `Stage ${name} from ${clock(sp.start_ms)} to ${clock(sp.end_ms)}` , onclick: () => seek(sp.start_ms) }, name);
    track.append(placed(seg, sp.start_ms, Math.max(0, sp.end_ms - sp.start_ms)));
  }
}

const OUTCOME = { taken: ["✓", "taken"], missed: ["✗", "missed"], open: ["○", "open"] };

function cueList() {
  const s = data.session.summary;
  const fromEvents = () => {
    const out = {};
    for (const e of data.events) {
      if (e.type === "cue") out[e.id] = { id: e.id, cue: e.cue, title: e.title, at_ms: e.at_ms, evidence: e.evidence, outcome: "open" };
      if (e.type === "cue_outcome" && out[e.id]) { out[e.id].outcome = e.taken ? "taken" : "missed"; out[e.id].outcome_ms = e.at_ms; }
    }
    return Object.values(out);
  };
  return (s && s.cues) ? s.cues : fromEvents();
}

function openCue(c) {
  const [sym, word] = OUTCOME[c.outcome] || OUTCOME.open;
  const ev = cueBodies[c.id] || {};
  $("#cue-title").textContent = c.title || c.cue;
  $("#cue-meta").textContent = `${sym} ${word}${c.outcome_ms ? ` at ${clock(c.outcome_ms)}` : ""} · fired at ${clock(c.at_ms)} · cue ${c.cue}`;
  $("#cue-body").textContent = ev.body || "(no suggested words stored)";
  $("#cue-evidence").textContent = c.evidence || ev.evidence || "(none)";
  $("#cue-play").onclick = () => { $("#cue-dialog").close(); seek(ev.start_ms ?? c.at_ms, true); };
  $("#cue-dialog").showModal();
}

function renderCues() {
  const track = $("#cue-track");
  for (const c of cueList()) {
    const [sym, word] = OUTCOME[c.outcome] || OUTCOME.open;
    const b = el("button", { type: "button", class: `marker ${c.outcome}`, dataset: { cue: c.id },
      "aria-label": `Cue ${c.title || c.cue} at ${clock(c.at_ms)}, ${word}`, title: `${c.title} (${word})`,
      onclick: () => openCue(c) }, sym);
    track.append(placed(b, c.at_ms));
  }
}

function renderCommentMarkers() {
  const track = $("#comment-track");
  track.querySelectorAll(".marker").forEach((m) => m.remove());
  for (const c of data.comments) {
    track.append(placed(el("button", { type: "button", class: "marker comment", dataset: { comment: c.id },
      "aria-label": `Comment at ${clock(c.at_ms)}: ${c.text}`, title: c.text, onclick: () => seek(c.at_ms) }, "✎"), c.at_ms));
  }
}

function addPlayheads() {
  for (const t of document.querySelectorAll(".track")) t.append(el("span", { class: "playhead", "aria-hidden": "true" }));
}

// ---- transcript, cues and comments in call order ----------------------------

function renderTranscript() {
  const items = [];
  for (const e of data.events) {
    if (e.type === "transcript" && e.final !== false && e.text) items.push({ t: e.start_ms, k: 0, e });
    if (e.type === "cue") cueBodies[e.id] = e;
  }
  for (const c of cueList()) items.push({ t: c.at_ms, k: 1, c });
  for (const c of data.comments) items.push({ t: c.at_ms, k: 2, m: c });
  items.sort((a, b) => a.t - b.t || a.k - b.k);
  lines = [];
  const ol = $("#transcript");
  ol.replaceChildren(...items.map((it) => {
    if (it.e) {
      const e = it.e;
      const li = el("li", { class: `line ${e.speaker}`, dataset: { start: e.start_ms, end: e.end_ms } },
        el("button", { type: "button", class: "jump", "aria-label": `Play from ${clock(e.start_ms)}, ${e.speaker}: ${e.text}`, onclick: () => seek(e.start_ms, true) },
          el("span", { class: "at" }, clock(e.start_ms)), el("span", { class: "who" }, e.speaker === "rep" ? "Rep" : "Prospect"), e.text));
      lines.push(li);
      return li;
    }
    if (it.c) {
      const c = it.c, [sym, word] = OUTCOME[c.outcome] || OUTCOME.open;
      return el("li", { class: "cue" }, el("button", { type: "button", class: `marker-inline ${c.outcome}`, onclick: () => openCue(c) },
        `${sym} Cue at ${clock(c.at_ms)}: ${c.title || c.cue} (${word})`));
    }
    return commentItem(it.m);
  }));
  current = null;
}

function commentItem(c) {
  const text = el("span", { class: "text" }, c.text);
  // Only the author or an administrator may change a comment (the server
  // says so too); others see who wrote it.
  const mine = canEditComment(viewer, c);
  const li = el("li", { class: "comment", dataset: { comment: c.id } },
    el("span", { class: "at" }, `✎ ${clock(c.at_ms)}`), el("span", { class: "who" }, c.author || "unknown author"), text,
    mine ? el("span", { class: "actions" },
      el("button", { type: "button", class: "edit", "aria-label": `Edit the comment at ${clock(c.at_ms)}`, onclick: () => editComment(li, c) }, "Edit"),
      el("button", { type: "button", class: "delete", "aria-label": `Delete the comment at ${clock(c.at_ms)}`, onclick: () => deleteComment(c) }, "Delete")) : "");
  return li;
}

function editComment(li, c) {
  const input = el("input", { type: "text", value: c.text, maxlength: "4000", "aria-label": "Comment text" });
  const when = el("input", { type: "text", value: clock(c.at_ms), size: "7", "aria-label": "Comment time" });
  const form = el("form", { class: "comment-form" }, when, input, el("button", { type: "submit", class: "primary" }, "Save"),
    el("button", { type: "button", onclick: () => renderAll() }, "Cancel"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const upd = await api(`${base}/comments/${encodeURIComponent(c.id)}`, { method: "PATCH", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: input.value, at_ms: parseClock(when.value) }) });
      Object.assign(c, upd);
      renderAll();
    } catch (err) { commentError(err); }
  });
  li.replaceChildren(form);
  input.focus();
}

async function deleteComment(c) {
  try {
    await api(`${base}/comments/${encodeURIComponent(c.id)}`, { method: "DELETE" });
    data.comments = data.comments.filter((x) => x.id !== c.id);
    renderAll();
  } catch (err) { commentError(err); }
}

function commentError(err) {
  $("#comment-error").textContent = `Comment not saved: ${err.message}`;
  $("#comment-error").hidden = false;
}

function parseClock(s) {
  const parts = String(s).trim().split(":").map(Number);
  if (parts.some((x) => !Number.isFinite(x) || x < 0)) return nowMS;
  return Math.round(parts.reduce((a, x) => a * 60 + x, 0) * 1000);
}

function setupComments() {
  const at = $("#comment-at");
  let edited = false;
  at.addEventListener("input", () => { edited = true; });
  $("#comment-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#comment-error").hidden = true;
    const text = $("#comment-text").value.trim();
    if (!text) return;
    try {
      const c = await api(`${base}/comments`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ at_ms: parseClock(at.value), text }) });
      data.comments.push(c);
      $("#comment-text").value = "";
      edited = false;
      renderAll();
    } catch (err) { commentError(err); }
  });
  return () => { if (!edited && document.activeElement !== at) at.value = clock(nowMS); };
}

function renderAll() {
  renderTranscript();
  renderCommentMarkers();
  update(nowMS, true);
}

// ---- playhead updates ------------------------------------------------------

let syncCommentTime = () => {};
let lastChart = 0;
function update(ms, force = false) {
  $("#time").textContent = `${clock(ms)} / ${clock(durMS)}`;
  document.body.dataset.positionMs = String(Math.round(ms));
  for (const p of document.querySelectorAll(".playhead")) p.style.left = at(ms);
  syncCommentTime();
  // The current line: the last one that started at or before the playhead.
  let cur = null;
  for (const li of lines) {
    if (Number(li.dataset.start) <= ms + 50) cur = li; else break;
  }
  if (cur !== current || force) {
    current?.classList.remove("current");
    current?.removeAttribute("aria-current");
    current = cur;
    if (cur) {
      cur.classList.add("current");
      cur.setAttribute("aria-current", "true");
      const box = $("#transcript");
      const top = cur.offsetTop - box.offsetTop;
      if (top < box.scrollTop || top > box.scrollTop + box.clientHeight - 40) box.scrollTop = top - 60;
    }
  }
  const now = performance.now();
  if (chart && (force || now - lastChart > 200)) { lastChart = now; chart.redraw(false, false); }
}

// ---- talk share chart ------------------------------------------------------

function renderChart() {
  const [lo, hi] = data.playbook.talk.healthy_rep_share;
  const xs = data.talk.map((p) => p[0] / 1000), share = data.talk.map((p) => 100 * p[1]), win = data.talk.map((p) => 100 * p[2]);
  const box = $("#talk-chart");
  const winMin = Math.round(data.playbook.talk.window_ms / 60000);
  $("#chart-note").textContent = `Solid line: the rep's share of talk so far. Dashed: over the last ${winMin} minutes. Green band: healthy, ${pct(lo)}–${pct(hi)}. Click the chart to play from there.`;
  if (!xs.length) { box.replaceChildren(el("p", { class: "muted" }, "No talk data.")); return; }
  const opts = {
    width: Math.max(280, box.clientWidth - 4), height: 220,
    scales: { x: { time: false, range: [0, durMS / 1000] }, y: { range: [0, 100] } },
    axes: [
      { stroke: color("--muted"), grid: { stroke: color("--line"), width: 1 }, values: (u, v) => v.map((s) => clock(s * 1000)) },
      { stroke: color("--muted"), grid: { stroke: color("--line"), width: 1 }, values: (u, v) => v.map((x) => `${x}%`), size: 46 },
    ],
    series: [
      { label: "Time", value: (u, v) => (v == null ? "" : clock(v * 1000)) },
      { label: "Rep share, whole call", stroke: color("--rep"), width: 2, value: (u, v) => (v == null ? "" : `${v.toFixed(0)}%`) },
      { label: `Rep share, last ${winMin} min`, stroke: color("--prospect"), width: 2, dash: [6, 4], value: (u, v) => (v == null ? "" : `${v.toFixed(0)}%`) },
    ],
    cursor: { drag: { x: false, y: false } },
    hooks: {
      drawClear: [(u) => {
        const c = u.ctx, y1 = u.valToPos(hi * 100, "y", true), y0 = u.valToPos(lo * 100, "y", true);
        c.save(); c.fillStyle = color("--band"); c.fillRect(u.bbox.left, y1, u.bbox.width, y0 - y1); c.restore();
      }],
      draw: [(u) => {
        const x = u.valToPos(nowMS / 1000, "x", true), c = u.ctx;
        c.save(); c.strokeStyle = color("--text"); c.lineWidth = 2; c.beginPath();
        c.moveTo(x, u.bbox.top); c.lineTo(x, u.bbox.top + u.bbox.height); c.stroke(); c.restore();
      }],
    },
  };
  chart = new uPlot(opts, [xs, share, win], box);
  chart.over.addEventListener("click", () => {
    const left = chart.cursor.left;
    if (left != null && left >= 0) seek(chart.posToVal(left, "x") * 1000, true);
  });
  new ResizeObserver(() => chart.setSize({ width: Math.max(280, box.clientWidth - 4), height: 220 })).observe(box);
}

// ---- metrics -----------------------------------------------------------------

function renderMetrics() {
  const m = data.session.summary?.metrics;
  const tb = $("#metrics tbody");
  if (!m) { tb.replaceChildren(el("tr", {}, el("td", { colspan: "3", class: "muted" }, "Metrics appear when the call has ended."))); return; }
  const talk = data.playbook.talk;
  const [lo, hi] = talk.healthy_rep_share;
  const limit = talk.monologue_limit_ms;
  const verdict = (v, min, max) => (min != null && v < min ? "▼ below" : max != null && v > max ? "▲ above" : "✓ in range");
  const rows = [
    ["Rep talk share", "rep talk time ÷ (rep + prospect talk time), whole call", pct(m.rep_share), `${pct(lo)}–${pct(hi)}`, verdict(m.rep_share, lo, hi)],
    ["Longest rep monologue", "the longest stretch the rep held the floor (own pauses under 1.5 s merged; short “mm-hm”s don't break it)",
      clock(m.longest_rep_monologue_ms), `under ${clock(limit)}`, verdict(m.longest_rep_monologue_ms, null, limit)],
    ["Customer story", "the prospect's longest monologue", clock(m.longest_prospect_monologue_ms), "longer is better (guide: 1:00+)",
      verdict(m.longest_prospect_monologue_ms, 60000, null)],
    ["Questions (rep)", "rep sentences that end with “?” or open with a question word or inverted auxiliary", String(m.rep_questions),
      "guide: 11–14 in a discovery call", "—"],
    ["Interactivity", "switches between speakers per minute", (m.interactivity || 0).toFixed(1), "higher is better", "—"],
    ["Patience", "median gap between the prospect finishing and the rep starting (0 when the rep cuts in)",
      `${((m.patience_ms || 0) / 1000).toFixed(1)} s`, "guide: 0.6–1.0 s", verdict(m.patience_ms || 0, 600, 1000)],
    ["Cue uptake", "cues taken ÷ cues fired", m.cues_fired ? `${m.cues_taken} / ${m.cues_fired} (${pct(m.uptake)})` : "no cues", "—", "—"],
  ];
  tb.replaceChildren(...rows.map(([name, def, v, healthy, verd]) => el("tr", {},
    el("th", { scope: "row" }, name, el("span", { class: "def" }, def)),
    el("td", { class: "value" }, v, verd !== "—" ? el("div", { class: verd.startsWith("✓") ? "ok" : "error" }, verd) : ""),
    el("td", {}, healthy))));
}

// ---- consent record and legal hold ------------------------------------------

function renderConsent() {
  const s = data.session;
  const by = !s.consent_by ? "—" : s.consent_by === viewer?.id ? `${viewer.name} (you)` : s.consent_by === s.owner && s.rep ? s.rep : s.consent_by;
  const rows = s.consent ? [
    ["Consent", "✓ confirmed"],
    ["Text the people on the call were told", s.consent_text || "—"],
    ["Confirmed by", by],
    ["Confirmed at", s.consent_at ? new Date(s.consent_at).toLocaleString() : "—"],
    ["Consent law", s.consent_policy || "—"],
    ["Version of the team's text", s.consent_version ? String(s.consent_version) : "the rep's own text"],
  ] : [["Consent", "✗ no consent record"]];
  $("#consent-record").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  showHold(s.legal_hold);
  if (viewer?.role === "admin") {
    $("#hold-admin").hidden = false;
    $("#hold-toggle").checked = !!s.legal_hold;
    $("#hold-toggle").addEventListener("change", setHold);
  }
}

function showHold(on) {
  $("#hold-state").replaceChildren(on ? el("strong", { class: "hold-on" }, "On legal hold: retention and erasure skip this call.")
    : el("span", { class: "muted" }, "Not on legal hold: the team's retention policy applies."));
}

async function setHold(e) {
  const hold = e.target.checked;
  try {
    await api(`${base}/hold`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ hold }) });
    data.session.legal_hold = hold;
    showHold(hold);
    $("#hold-status").textContent = hold ? "✓ Legal hold set." : "✓ Legal hold lifted.";
  } catch (err) {
    e.target.checked = !hold;
    $("#hold-status").textContent = `✗ Legal hold not changed: ${err.message}`;
  }
}

// ---- header and exports -----------------------------------------------------

function renderHead() {
  const s = data.session;
  $("#call-h").textContent = s.title || (s.rep ? `Call with ${s.rep}` : (s.source === "upload" ? "Uploaded call" : "Live call"));
  document.title = `${$("#call-h").textContent} · Replay · cuecard`;
  $("#call-meta").textContent = [s.rep && `Rep: ${s.rep}`, new Date(s.created_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }),
    clock(durMS), s.source === "upload" ? "uploaded" : "live", s.summary?.metrics?.furthest_stage && `reached ${STAGE_NAMES[s.summary.metrics.furthest_stage]}`,
    s.backend && `processed by ${s.backend}`]
    .filter(Boolean).join(" · ");
  renderNotes();
  const ex = $("#exports");
  ex.append(el("a", { class: "button", href: `${base}/events`, download: `${id}.events.jsonl` }, "Events (JSONL)"),
    el("a", { class: "button", href: `${base}/transcript`, download: `${id}.transcript.txt` }, "Transcript (text)"));
  for (const sp of ["rep", "prospect"]) {
    if (data.audio[sp]) ex.append(el("a", { class: "button", href: `${base}/audio?speaker=${sp}`, download: "" }, `Audio: ${sp}`));
  }
  if (data.upload && data.upload.state === "analyzing") watchUpload();
}

// renderNotes shows the language model's post-call notes, if any.
function renderNotes() {
  const n = data.notes;
  if (!n) return;
  const body = $("#notes-body");
  const list = (title, items) => items?.length ? [el("h3", {}, title), el("ul", {}, ...items.map((x) => el("li", {}, String(x))))] : [];
  body.replaceChildren(
    ...(n.summary ? [el("p", {}, n.summary)] : []),
    ...list("Next steps", n.next_steps),
    ...list("Coaching", n.coaching),
    ...(n.model ? [el("p", { class: "muted" }, `Written by ${n.model}.`)] : []));
  $("#notes").hidden = false;
}

async function watchUpload() {
  const st = $("#call-progress");
  for (;;) {
    let u;
    try { u = await api(`/v1/uploads/${encodeURIComponent(id)}`); } catch { return; }
    if (u.state !== "analyzing") { location.reload(); return; }
    st.replaceChildren("Analyzing ", el("progress", { max: "1", value: String(u.total_ms ? u.done_ms / u.total_ms : 0) }), ` ${pct(u.total_ms ? u.done_ms / u.total_ms : 0)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ---- start -------------------------------------------------------------------

(async function init() {
  viewer = await userMenu();
  try {
    data = await api(`${base}/replay`);
  } catch (e) {
    $("#load-error").textContent = e.status === 404 ? "There is no such call." : `Could not load the call: ${e.message}`;
    $("#load-error").hidden = false;
    $("#call-h").textContent = "Call not found";
    return;
  }
  durMS = data.session.duration_ms || Math.max(1, ...data.events.map((e) => e.at_ms || 0));
  renderHead();
  renderConsent();
  renderStages();
  renderCues();
  renderTranscript();
  renderCommentMarkers();
  addPlayheads();
  renderMetrics();
  renderChart();
  syncCommentTime = setupComments();
  setupAudio();
  for (const t of ["#stages", "#cue-track", "#comment-track"]) {
    $(t).addEventListener("click", (e) => {
      if (e.target !== e.currentTarget) return;
      const r = e.currentTarget.getBoundingClientRect();
      seek(((e.clientX - r.left) / r.width) * durMS);
    });
  }
  update(0, true);
  // For tests and tools: the playhead in ms.
  window.cuecardReplay = { positionMS: () => (master ? master.getCurrentTime() * 1000 : nowMS), seek };
  document.body.dataset.ready = "true";
})();
