// The rep's overlay: consent and capture set-up, then the live view (cue
// card, talk share, monologue timer, stage stepper, levels, transcript),
// then the call's summary. Events follow docs/events.md.

import { Hearing, SIDES, ShareError, Taps, listInputs, openInput, openMic, shareTab, testSource } from "./capture.js";
import { Link, createSession, fetchSession } from "./transport.js";
import { closePopOut, popOut, popOutDocument, setPopOutTheme } from "./popout.js";

// $ finds an element in the page, or in the floating window the live view
// was moved into.
function $(sel, root) {
  if (root) return root.querySelector(sel);
  return document.querySelector(sel) ?? popOutDocument()?.querySelector(sel) ?? null;
}

const STAGE_LABELS = {
  rapport: "Rapport",
  discovery: "Discovery",
  future: "Future",
  relationship: "Relationship",
  commitment: "Commitment",
};
const CUE_TTL_MS = 45000; // a card leaves by itself after this long
const CUE_REPLACE_MS = 8000; // a less urgent cue waits this long behind the shown one
const PENDING_STALE_MS = 20000; // a waiting cue older than this is history
const TAKEN_LINGER_MS = 2500; // "done" stays this long on a taken card
const MAX_LINES = 300;

const params = new URLSearchParams(location.search);

const state = {
  config: { webrtc: true, test_hooks: false },
  playbook: null,
  band: [0.35, 0.55],
  warnMs: 30000,
  limitMs: 45000,
  windowMs: 180000,
  micStream: null,
  prospect: null, // {kind: "tab"|"device"|"test", stream?, deviceId?, url?}
  session: null,
  link: null,
  taps: null,
  ctx: null,
  hearing: null,
  test: null,
  stage: "",
  cues: new Map(), // id -> {ev, outcome, el}
  current: null, // {ev, shownAt, timer}
  pending: [],
  lastAt: 0,
  meterAt: 0,
  peaks: { rep: 0, prospect: 0 },
  summary: null,
};

// ---- start-up ----------------------------------------------------------

async function init() {
  applyTheme(localStorage.getItem("cuecard-theme") || "auto");
  $("#theme").addEventListener("click", cycleTheme);
  $("#help-btn").addEventListener("click", toggleHelp);
  document.addEventListener("keydown", onKey);
  $("#setup").addEventListener("submit", (e) => { e.preventDefault(); start(); });
  $("#mic-allow").addEventListener("click", allowMic);
  $("#share").addEventListener("click", onShare);
  for (const r of document.querySelectorAll('input[name="prospect-src"]')) r.addEventListener("change", onProspectKind);
  $("#prospect-dev").addEventListener("change", () => {
    state.prospect = { kind: "device", deviceId: $("#prospect-dev").value };
    setProspectState(true, "The call's audio input is selected.");
  });
  $("#stop").addEventListener("click", stop);
  $("#again").addEventListener("click", () => location.reload());
  $("#popout").addEventListener("click", onPopOut);
  $("#cue .cue-dismiss").addEventListener("click", () => leaveCue("dismissed"));
  $("#rep").value = localStorage.getItem("cuecard-rep") || "";

  const [config, playbook] = await Promise.all([
    getJSON("/ui-config.json").catch(() => null),
    getJSON("/v1/playbook").catch(() => null),
  ]);
  if (config) state.config = config;
  if (playbook) applyPlaybook(playbook);
  renderStages();

  const testURL = params.get("test-prospect");
  if (testURL && state.config.test_hooks) {
    state.prospect = { kind: "test", url: testURL };
    $("#prospect-choice").hidden = true;
    $("#prospect-tab").hidden = true;
    $("#test-mode").hidden = false;
    $("#test-mode").textContent = `Test mode: the other side is played from ${testURL}.`;
    setProspectState(true, "Test audio ready.");
  } else if (testURL) {
    $("#test-mode").hidden = false;
    $("#test-mode").textContent = "This server does not allow test audio; share the call tab instead.";
  }
  await fillMics();
  document.body.dataset.ready = "true";
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function applyPlaybook(pb) {
  state.playbook = pb;
  // Which backends hear the call (embedded, or which remote host).
  if (pb.backend) $("#backend").textContent = pb.backend;
  const t = pb.talk || {};
  if (Array.isArray(t.healthy_rep_share)) state.band = t.healthy_rep_share;
  if (t.monologue_warn_ms) state.warnMs = t.monologue_warn_ms;
  if (t.monologue_limit_ms) state.limitMs = t.monologue_limit_ms;
  if (t.window_ms) state.windowMs = t.window_ms;
  const [lo, hi] = state.band;
  for (const id of ["#share-call", "#share-window"]) {
    const band = $(`${id} .band`);
    band.style.left = `${lo * 100}%`;
    band.style.width = `${(hi - lo) * 100}%`;
  }
  $("#share-window .window-len").textContent = duration(state.windowMs, true);
}

// ---- set-up ------------------------------------------------------------

async function fillMics() {
  const sel = $("#mic");
  const devs = await listInputs().catch(() => []);
  const keep = sel.value;
  sel.replaceChildren(new Option("Default microphone", ""));
  let labelled = false;
  devs.forEach((d, i) => {
    if (d.deviceId === "default" || d.deviceId === "") return;
    labelled ||= d.label !== "";
    sel.append(new Option(d.label || `Microphone ${i + 1}`, d.deviceId));
  });
  sel.value = keep;
  $("#mic-allow").hidden = labelled;
  const pd = $("#prospect-dev");
  pd.replaceChildren(new Option("Choose the input that carries the call…", ""));
  devs.forEach((d, i) => {
    if (d.deviceId === "default" || d.deviceId === "") return;
    pd.append(new Option(d.label || `Input ${i + 1}`, d.deviceId));
  });
}

async function allowMic() {
  try {
    const s = await openMic("");
    for (const t of s.getTracks()) t.stop();
    await fillMics();
    setupError("");
  } catch (err) {
    setupError(`The microphone is not available: ${err.message}`);
  }
}

function onProspectKind() {
  const kind = $('input[name="prospect-src"]:checked').value;
  $("#prospect-tab").hidden = kind !== "tab";
  $("#prospect-device").hidden = kind !== "device";
  if (state.prospect?.stream) for (const t of state.prospect.stream.getTracks()) t.stop();
  state.prospect = null;
  setProspectState(false, kind === "tab" ? "Not shared yet." : "Choose the input that carries the call.");
  if (kind === "device") fillMics();
}

async function onShare() {
  try {
    if (state.prospect?.stream) for (const t of state.prospect.stream.getTracks()) t.stop();
    const stream = await shareTab();
    state.prospect = { kind: "tab", stream };
    const track = stream.getAudioTracks()[0];
    track.addEventListener("ended", onShareEnded);
    setProspectState(true, `Sharing the tab's audio${track.label ? ` (${track.label})` : ""}.`);
    $("#share").textContent = "Share a different tab…";
    setupError("");
  } catch (err) {
    state.prospect = null;
    const msg = err instanceof ShareError ? err.message
      : err.name === "NotAllowedError" ? "Sharing was cancelled. Share the call tab to let cuecard hear the other side."
        : `Sharing failed: ${err.message}`;
    setProspectState(false, "Not shared.");
    setupError(msg);
  }
}

function onShareEnded() {
  if (state.session) {
    showAlert("#status", "bad", "Tab sharing stopped: cuecard no longer hears the other side.");
  } else {
    state.prospect = null;
    setProspectState(false, "Sharing stopped. Share the call tab again.");
  }
}

function setProspectState(ok, text) {
  const el = $("#prospect-state");
  el.dataset.ok = String(ok);
  el.textContent = text;
}

function setupError(msg) {
  const el = $("#setup-error");
  el.textContent = msg;
  el.hidden = !msg;
}

// ---- the call ----------------------------------------------------------

async function start() {
  if (!$("#consent").checked) {
    setupError("Confirm that everyone on the call knows it is recorded and assisted.");
    $("#consent").focus();
    return;
  }
  if (!state.prospect || (state.prospect.kind === "device" && !state.prospect.deviceId)) {
    setupError("Share the call's tab with its audio (or pick the input that carries the call) first.");
    return;
  }
  setupError("");
  const btn = $("#start");
  btn.disabled = true;
  btn.textContent = "Starting…";
  try {
    await begin();
  } catch (err) {
    console.error(err);
    teardownMedia();
    state.session = null;
    state.link = null;
    $("#live").hidden = true;
    $("#popout").hidden = true;
    $("#setup").hidden = false;
    document.body.dataset.phase = "setup";
    window.removeEventListener("beforeunload", warnLeave);
    setupError(`Could not start: ${err.message}`);
    btn.disabled = false;
    btn.textContent = "Start coaching";
  }
}

async function begin() {
  const ctx = new AudioContext({ latencyHint: "interactive" });
  state.ctx = ctx;
  await ctx.resume();
  state.taps = await Taps.create(ctx);

  let prospectStream;
  const p = state.prospect;
  if (p.kind === "test") {
    state.test = await testSource(p.url);
    prospectStream = state.test.stream;
  } else if (p.kind === "device") {
    prospectStream = await openInput(p.deviceId);
  } else {
    prospectStream = p.stream;
  }
  const rep = $("#rep").value.trim();
  localStorage.setItem("cuecard-rep", rep);
  state.session = await createSession({
    rep,
    title: $("#title").value.trim(),
    consentText: $("#consent-text").textContent.trim(),
    sampleRate: ctx.sampleRate,
  });
  // The mic opens last, then the test audio plays: both sides start together.
  state.micStream = await openMic($("#mic").value);
  if (state.test) await state.test.play();

  const streams = { rep: state.micStream, prospect: prospectStream };
  const now = performance.now();
  state.hearing = new Hearing(now);
  const link = new Link({
    id: state.session.id,
    streams,
    taps: state.taps,
    sampleRate: ctx.sampleRate,
    transport: params.get("transport") || (state.config.webrtc ? "auto" : "ws"),
    onEvent,
    onState,
  });
  state.link = link;
  for (const side of SIDES) {
    state.taps.add(side, streams[side], onLevel, (s, buf) => link.sendPCM(s, buf));
  }
  $("#setup").hidden = true;
  $("#live").hidden = false;
  $("#popout").hidden = false;
  $("#clock").hidden = false;
  document.body.dataset.phase = "live";
  document.body.dataset.session = state.session.id;
  window.addEventListener("beforeunload", warnLeave);
  await link.start();
}

function warnLeave(e) {
  e.preventDefault();
  e.returnValue = "";
}

async function stop() {
  if (!state.link || state.link.ended) return;
  const btn = $("#stop");
  btn.disabled = true;
  btn.textContent = "Finishing…";
  await state.link.stop();
}

function teardownMedia() {
  state.taps?.close();
  for (const s of [state.micStream, state.prospect?.stream]) {
    for (const t of s?.getTracks() || []) t.stop();
  }
  state.test?.element.pause();
  state.ctx?.close().catch(() => {});
  state.ctx = null;
}

function onState(st, info) {
  const el = $("#conn");
  el.dataset.state = st;
  if (info.transport) el.dataset.transport = info.transport;
  const via = info.transport === "ws" ? "WebSocket" : info.transport === "webrtc" ? "WebRTC" : "";
  el.textContent = {
    connecting: "Connecting…",
    live: `Live${via ? ` (${via})` : ""}`,
    reconnecting: "Connection lost: reconnecting…",
    ended: "Call ended",
    failed: `Not connected${info.error ? `: ${info.error}` : ""}`,
  }[st] || st;
  if (st === "ended") ended();
  if (st === "failed") {
    showAlert("#status", "bad", `cuecard could not connect to the server: ${info.error || "unknown error"}.`);
  }
}

async function ended() {
  window.removeEventListener("beforeunload", warnLeave);
  teardownMedia();
  let sum = state.summary;
  if (!sum && state.session) {
    try {
      sum = (await fetchSession(state.session.id)).summary || null;
    } catch { /* the server is gone: show what we have */ }
  }
  showSummary(sum);
}

// ---- events ------------------------------------------------------------

function onEvent(ev) {
  if (typeof ev.at_ms === "number" && ev.at_ms > state.lastAt) {
    state.lastAt = ev.at_ms;
    $("#clock").textContent = clock(ev.at_ms);
  }
  switch (ev.type) {
    case "talk": onTalk(ev); break;
    case "stage": onStage(ev); break;
    case "cue": onCue(ev); break;
    case "cue_outcome": onOutcome(ev); break;
    case "cue_update": onCueUpdate(ev); break;
    case "transcript": onTranscript(ev); break;
    case "status": onStatus(ev); break;
    case "summary": state.summary = ev; break;
  }
}

function onTalk(ev) {
  setShare("#share-call", ev.rep_share, ev.rep_ms + ev.prospect_ms > 0);
  setShare("#share-window", ev.window_rep_share, ev.rep_ms + ev.prospect_ms > 0);
  const el = $("#mono");
  const ms = ev.monologue_ms || 0;
  let level = "none", who = "Nobody holds the floor", time = "", note = "";
  if (ev.monologue_speaker === "rep") {
    who = "You've held the floor";
    time = clock(ms);
    if (ms >= state.limitMs) {
      level = "over";
      note = "Over the limit: stop and ask a question.";
    } else if (ms >= state.warnMs) {
      level = "warn";
      note = `Wrap up: ${Math.ceil((state.limitMs - ms) / 1000)} s to the limit.`;
    } else {
      level = "ok";
    }
  } else if (ev.monologue_speaker === "prospect") {
    level = "listen";
    who = "They're talking";
    time = clock(ms);
    note = "Keep listening.";
  }
  el.dataset.level = level;
  $(".mono-who", el).textContent = who;
  $(".mono-time", el).textContent = time;
  $(".mono-note", el).textContent = note;
}

function setShare(sel, share, any) {
  const el = $(sel);
  if (!any || typeof share !== "number") {
    $(".value", el).textContent = "–";
    $(".verdict", el).textContent = "";
    el.dataset.verdict = "";
    return;
  }
  const [lo, hi] = state.band;
  const pct = Math.round(share * 100);
  $(".value", el).textContent = `${pct}%`;
  $(".fill", el).style.width = `${Math.min(100, share * 100)}%`;
  const band = `${Math.round(lo * 100)}–${Math.round(hi * 100)}%`;
  let v, text;
  if (share > hi) [v, text] = ["high", `▲ above the healthy ${band}: let them talk`];
  else if (share < lo) [v, text] = ["low", `▼ below the healthy ${band}`];
  else [v, text] = ["ok", `✓ in the healthy ${band}`];
  el.dataset.verdict = v;
  $(".verdict", el).textContent = text;
}

function stageList() {
  return state.playbook?.stages?.length ? state.playbook.stages : Object.keys(STAGE_LABELS);
}

function renderStages() {
  const ol = $("#stages");
  ol.replaceChildren(...stageList().map((s) => {
    const li = document.createElement("li");
    li.dataset.stage = s;
    li.textContent = STAGE_LABELS[s] || s;
    return li;
  }));
  updateStages();
}

function updateStages() {
  const stages = stageList();
  const cur = stages.indexOf(state.stage);
  for (const li of $("#stages").children) {
    const i = stages.indexOf(li.dataset.stage);
    li.dataset.state = i < cur ? "done" : i === cur ? "current" : "todo";
    if (i === cur) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
    li.title = i < cur ? "done" : i === cur ? "current stage" : "not yet";
  }
}

function onStage(ev) {
  state.stage = ev.stage;
  updateStages();
  const li = $(`#stages li[data-stage="${CSS.escape(ev.stage)}"]`);
  if (li && ev.evidence) li.title = `current stage: “${ev.evidence}”`;
}

// One card at a time: a new cue replaces the shown one when it is at least
// as urgent (priority 1 is the most urgent) or the shown one has had its
// moment; otherwise it waits.
function onCue(ev) {
  if (state.cues.has(ev.id)) return; // delivered again after a reconnect
  state.cues.set(ev.id, { ev, outcome: "" });
  const cur = state.current;
  const now = performance.now();
  if (!cur || (ev.priority || 9) <= (cur.ev.priority || 9) || now - cur.shownAt > CUE_REPLACE_MS) {
    if (cur) leaveCue("replaced");
    showCue(ev);
  } else {
    state.pending.push({ ev, at: now });
    state.pending.sort((a, b) => (a.ev.priority || 9) - (b.ev.priority || 9));
  }
}

function showCue(ev) {
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
  const timer = setTimeout(() => leaveCue("expired"), CUE_TTL_MS);
  state.current = { ev, shownAt: performance.now(), timer };
}

// leaveCue takes the shown card into the history and shows the next one.
function leaveCue(why) {
  const cur = state.current;
  if (!cur) return;
  clearTimeout(cur.timer);
  state.current = null;
  addHistory(cur.ev, why);
  const el = $("#cue");
  el.dataset.state = "empty";
  delete el.dataset.cue;
  delete el.dataset.id;
  delete el.dataset.priority;
  const now = performance.now();
  while (state.pending.length) {
    const next = state.pending.shift();
    if (now - next.at < PENDING_STALE_MS && !state.cues.get(next.ev.id)?.outcome) {
      showCue(next.ev);
      return;
    }
    addHistory(next.ev, "skipped");
  }
}

function addHistory(ev, why) {
  const rec = state.cues.get(ev.id);
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
  rec.el = li;
  rec.why = why;
  renderOutcome(rec);
  const list = $("#history .history-list");
  list.prepend(li);
  $("#history .count").textContent = String(list.children.length);
}

function renderOutcome(rec) {
  if (!rec.el) return;
  const at = clock(rec.ev.at_ms || 0);
  const what = rec.outcome === "taken" ? "✓ taken" : rec.outcome === "missed" ? "✕ missed"
    : rec.outcome === "withdrawn" ? "withdrawn on second thought" : rec.why === "dismissed" ? "dismissed" : "open";
  $(".h-outcome", rec.el).textContent = `(${at}, ${what})`;
  rec.el.dataset.outcome = rec.outcome || "open";
}

function onOutcome(ev) {
  const rec = state.cues.get(ev.id);
  if (!rec) return;
  rec.outcome = ev.taken ? "taken" : "missed";
  renderOutcome(rec);
  const cur = state.current;
  if (cur?.ev.id !== ev.id) return;
  if (ev.taken) {
    const el = $("#cue");
    el.dataset.state = "taken";
    $(".cue-outcome", el).textContent = "✓ Done: nice.";
    clearTimeout(cur.timer);
    cur.timer = setTimeout(() => leaveCue("taken"), TAKEN_LINGER_MS);
  } else {
    leaveCue("missed");
  }
}

// onCueUpdate applies a second opinion on a cue (--llm): a refined card
// gets the better words, a withdrawn one leaves (and says so in the
// history), a confirmed one is marked.
function onCueUpdate(ev) {
  const rec = state.cues.get(ev.id);
  if (!rec) return;
  rec.verdict = ev.verdict;
  const shown = state.current?.ev.id === ev.id;
  if (ev.verdict === "refined" && ev.body) {
    rec.ev.body = ev.body;
    if (shown) $(".cue-words", $("#cue")).textContent = ev.body;
  }
  if (ev.verdict === "withdrawn") {
    rec.outcome = rec.outcome || "withdrawn";
    if (shown) leaveCue("withdrawn");
    else state.pending = state.pending.filter((p) => p.ev.id !== ev.id);
  }
  if (shown && ev.verdict !== "withdrawn") {
    $(".cue-outcome", $("#cue")).textContent = ev.verdict === "confirmed" ? "✓ confirmed" : "✎ refined";
  }
  renderOutcome(rec);
}

function onTranscript(ev) {
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

function onStatus(ev) {
  const parts = [];
  if (ev.asr === "degraded") parts.push("Speech recognition is degraded");
  else if (ev.asr === "off") parts.push("Speech recognition is off: talk metrics only");
  else if (ev.asr === "ok") parts.push("Speech recognition is back");
  if (ev.reason) parts.push(ev.reason);
  const text = parts.join(": ") || "Status changed";
  showAlert("#status", ev.asr === "ok" ? "info" : "warn", `${ev.asr === "ok" ? "✓" : "⚠"} ${text}.`);
}

function showAlert(sel, kind, text) {
  const el = $(sel);
  el.dataset.kind = kind;
  el.textContent = text;
  el.hidden = false;
}

// ---- levels and the silence warning --------------------------------------

function onLevel(side, rms, peak) {
  const now = performance.now();
  const h = state.hearing;
  if (!h) return;
  h.level(side, rms, now);
  state.peaks[side] = Math.max(state.peaks[side], peak);
  if (now - state.meterAt < 100) return; // ten DOM updates a second
  state.meterAt = now;
  for (const s of SIDES) {
    const box = $(`#level-${s}`);
    $("meter", box).value = Math.min(1, Math.sqrt(state.peaks[s]));
    state.peaks[s] = 0;
    const heard = h.heard(s, now);
    const silent = h.silent(s, now);
    box.dataset.heard = heard ? "yes" : silent ? "no" : "";
    $(".heard", box).textContent = heard ? "heard" : silent ? "silent" : "quiet";
  }
  if (state.link && !state.link.ended) {
    $("#hear-prospect").hidden = !h.silent("prospect", now);
    $("#hear-rep").hidden = !h.silent("rep", now);
  }
}

// ---- summary -------------------------------------------------------------

function showSummary(sum) {
  closePopOut();
  $("#live").hidden = true;
  $("#popout").hidden = true;
  document.body.dataset.phase = "ended";
  const id = state.session?.id;
  const a = $("#replay");
  a.href = id ? `/sessions/${encodeURIComponent(id)}` : "/sessions";
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
      ["Furthest stage", STAGE_LABELS[m.furthest_stage] || m.furthest_stage || "–"],
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
    li.textContent = `${STAGE_LABELS[s.stage] || s.stage} at ${clock(s.start_ms)}${s.evidence ? `: “${s.evidence}”` : ""}`;
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

// ---- pop-out, theme, keys ------------------------------------------------

async function onPopOut() {
  try {
    await popOut($("#live"), { onKey, theme: document.documentElement.dataset.theme || "" });
  } catch (err) {
    showAlert("#status", "warn", `⚠ Could not pop out: ${err.message}`);
  }
}

const THEMES = ["auto", "dark", "light"];

function applyTheme(t) {
  if (!THEMES.includes(t)) t = "auto";
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  setPopOutTheme(document.documentElement.dataset.theme || "");
  $("#theme").textContent = `Theme: ${t}`;
  localStorage.setItem("cuecard-theme", t);
  return t;
}

function cycleTheme() {
  const cur = document.documentElement.dataset.theme || "auto";
  applyTheme(THEMES[(THEMES.indexOf(cur) + 1) % THEMES.length]);
}

function toggleHelp() {
  const h = $("#help");
  h.hidden = !h.hidden;
  $("#help-btn").setAttribute("aria-expanded", String(!h.hidden));
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = e.target?.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
  const live = !!state.link && !state.link.ended;
  switch (e.key) {
    case "Escape":
    case "d":
      if (state.current) { leaveCue("dismissed"); e.preventDefault(); }
      break;
    case "t":
      $("#transcript").open = !$("#transcript").open;
      break;
    case "p":
      if (live) onPopOut();
      break;
    case "l":
      cycleTheme();
      break;
    case "S":
      if (live) stop();
      break;
    case "?":
      toggleHelp();
      break;
    default:
      return;
  }
}

// ---- formatting ----------------------------------------------------------

function clock(ms) {
  const s = Math.max(0, Math.floor((ms || 0) / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

function duration(ms, short) {
  const s = Math.round(ms / 1000);
  if (s % 60 === 0) return `${s / 60} min`;
  return short ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

init().catch((err) => {
  console.error(err);
  setupError(`The overlay failed to load: ${err.message}`);
});
