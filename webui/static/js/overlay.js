// The rep's overlay: consent and capture set-up, then the live view (cue
// card, talk share, monologue timer, stage stepper, levels, transcript),
// then the call's summary. Events follow docs/events.md.
//
// This module wires the page: the set-up form (setup.js), the call's media
// and link to the server (capture.js, transport.js), and the views that
// show its events (cues.js with cuecard.js, meters.js, stages.js,
// levels.js, transcript.js, summary.js).

import { Hearing, SIDES, Taps, openInput, openMic, testSource } from "./capture.js";
import { CueCard } from "./cuecard.js";
import { CueQueue } from "./cues.js";
import { $, showAlert } from "./dom.js";
import { LiveFeed, Viewer, shouldFollow, sourceName } from "./follow.js";
import { clock } from "./format.js";
import { keyAction } from "./keys.js";
import { LevelMeters } from "./levels.js";
import { TalkMeters } from "./meters.js";
import { popOut } from "./popout.js";
import { Setup } from "./setup.js";
import { StageStepper } from "./stages.js";
import { showSummary } from "./summary.js";
import { talkSettings } from "./talk.js";
import { applyTheme, cycleTheme, toggleHelp } from "./theme.js";
import { showTranscript } from "./transcript.js";
import { Link, SessionRefused, createSession, fetchSession } from "./transport.js";
import { goSignIn, userMenu } from "/account/menu.js";
import { sessionError } from "/account/next.js";

const params = new URLSearchParams(location.search);

// What this server allows (GET /ui-config.json); these hold when it cannot say.
let config = { webrtc: true, test_hooks: false };

const setup = new Setup(() => !!call.session);
const cues = new CueQueue(new CueCard());
let meters = null; // TalkMeters, once the playbook is known
let stages = null; // StageStepper, likewise

// The call: its session on the server, the link to it, and its media.
const call = {
  session: null,
  team: "",
  link: null,
  ctx: null,
  taps: null,
  micStream: null,
  test: null,
  levels: null,
  lastAt: 0,
  summary: null,
  // followed: the id of a session a dialer streams that this overlay shows
  // (see follow.js); viewer is its events socket.
  followed: null,
  viewer: null,
};

const live = () => !!call.link && !call.link.ended;

// ---- start-up ----------------------------------------------------------

async function init() {
  applyTheme(localStorage.getItem("cuecard-theme") || "auto");
  $("#theme").addEventListener("click", cycleTheme);
  $("#help-btn").addEventListener("click", toggleHelp);
  document.addEventListener("keydown", onKey);
  $("#setup").addEventListener("submit", (e) => { e.preventDefault(); start(); });
  $("#stop").addEventListener("click", stop);
  $("#again").addEventListener("click", () => location.reload());
  $("#popout").addEventListener("click", onPopOut);
  $("#cue .cue-dismiss").addEventListener("click", () => cues.dismiss());
  // Calls are the signed-in rep's; the team's consent text is what they read.
  const user = await userMenu();
  $("#rep-name").textContent = user.name || user.email;
  await showConsentText(user);

  // The playbook says how talk is judged (band, limits, window) and
  // which stages there are; without it the overlay cannot coach.
  const [cfg, playbook] = await Promise.all([
    getJSON("/ui-config.json").catch(() => null),
    getJSON("/v1/playbook"),
  ]);
  if (cfg) config = cfg;
  // Which backends hear the call (embedded, or which remote host).
  if (playbook.backend) $("#backend").textContent = playbook.backend;
  meters = new TalkMeters(talkSettings(playbook));
  stages = new StageStepper(playbook.stages);

  const testURL = params.get("test-prospect");
  if (testURL && config.test_hooks) setup.useTestAudio(testURL);
  else if (testURL) setup.refuseTestAudio();
  await setup.fillMics();
  // Calls that a dialer streams for this rep show up here by themselves.
  new LiveFeed({ onNotice: follow }).start();
  if (params.get("follow")) follow({ id: params.get("follow"), source: params.get("source") || "", title: "" });
  document.body.dataset.ready = "true";
}

// showConsentText puts the consent text of the rep's team (its policy) on
// the page; without a team or a text the page's own text stays.
async function showConsentText(user) {
  const team = (user.teams || [])[0];
  if (!team) return;
  call.team = team.team_id;
  $("#rep-team").textContent = ` in team ${team.team_name}`;
  try {
    const pol = await getJSON(`/v1/teams/${encodeURIComponent(team.team_id)}/policy`);
    if (pol.consent_text) {
      $("#consent-text").textContent = pol.consent_text;
      $("#consent-source").textContent = `Read this to everyone on the call (${team.team_name}'s consent text, ${pol.consent_policy || "all-party"} consent):`;
    }
  } catch (err) {
    console.warn("cuecard: no team policy", err);
  }
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

// ---- the call ----------------------------------------------------------

async function start() {
  if (!$("#consent").checked) {
    setup.error("Confirm that everyone on the call knows it is recorded and assisted.");
    $("#consent").focus();
    return;
  }
  if (!setup.ready) {
    setup.error("Share the call's tab with its audio (or pick the input that carries the call) first.");
    return;
  }
  setup.error("");
  const btn = $("#start");
  btn.disabled = true;
  btn.textContent = "Starting…";
  try {
    await begin();
  } catch (err) {
    console.error(err);
    teardownMedia();
    call.session = null;
    call.link = null;
    $("#live").hidden = true;
    $("#popout").hidden = true;
    $("#setup").hidden = false;
    document.body.dataset.phase = "setup";
    window.removeEventListener("beforeunload", warnLeave);
    if (err instanceof SessionRefused && err.status === 401) {
      goSignIn();
      return;
    }
    setup.error(err instanceof SessionRefused ? sessionError(err.status, err.detail) : `Could not start: ${err.message}`);
    btn.disabled = false;
    btn.textContent = "Start coaching";
  }
}

async function begin() {
  const ctx = new AudioContext({ latencyHint: "interactive" });
  call.ctx = ctx;
  await ctx.resume();
  call.taps = await Taps.create(ctx);

  let prospectStream;
  const p = setup.prospect;
  if (p.kind === "test") {
    call.test = await testSource(p.url);
    prospectStream = call.test.stream;
  } else if (p.kind === "device") {
    prospectStream = await openInput(p.deviceId);
  } else {
    prospectStream = p.stream;
  }
  call.session = await createSession({
    team: call.team,
    title: $("#title").value.trim(),
    consentText: $("#consent-text").textContent.trim(),
    sampleRate: ctx.sampleRate,
  });
  // The mic opens last, then the test audio plays: both sides start together.
  call.micStream = await openMic($("#mic").value);
  if (call.test) await call.test.play();

  const streams = { rep: call.micStream, prospect: prospectStream };
  const levels = new LevelMeters(new Hearing(performance.now()));
  call.levels = levels;
  const link = new Link({
    id: call.session.id,
    streams,
    taps: call.taps,
    sampleRate: ctx.sampleRate,
    transport: params.get("transport") || (config.webrtc ? "auto" : "ws"),
    onEvent,
    onState,
  });
  call.link = link;
  for (const side of SIDES) {
    call.taps.add(side, streams[side], (s, rms, peak) => levels.level(s, rms, peak, live()), (s, buf) => link.sendPCM(s, buf));
  }
  $("#setup").hidden = true;
  $("#live").hidden = false;
  $("#popout").hidden = false;
  $("#clock").hidden = false;
  document.body.dataset.phase = "live";
  document.body.dataset.session = call.session.id;
  window.addEventListener("beforeunload", warnLeave);
  await link.start();
}

function warnLeave(e) {
  e.preventDefault();
  e.returnValue = "";
}

async function stop() {
  if (!live()) return;
  const btn = $("#stop");
  btn.disabled = true;
  btn.textContent = "Finishing…";
  await call.link.stop();
}

function teardownMedia() {
  call.taps?.close();
  for (const s of [call.micStream, setup.prospect?.stream]) {
    for (const t of s?.getTracks() || []) t.stop();
  }
  call.test?.element.pause();
  call.ctx?.close().catch(() => {});
  call.ctx = null;
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
  let sum = call.summary;
  if (!sum && call.session) {
    try {
      sum = (await fetchSession(call.session.id)).summary || null;
    } catch { /* the server is gone: show what we have */ }
  }
  showSummary(sum, call.session?.id);
}

// ---- phone calls -------------------------------------------------------

// follow shows a session of this rep that a dialer streams (notice n from
// the live feed), unless the overlay is busy with a call of its own.
function follow(n) {
  const state = { phase: document.body.dataset.phase || "setup", session: call.session?.id || null, followed: call.followed };
  if (!shouldFollow(state, n)) return;
  if (state.phase === "ended") {
    // A fresh page for the new call: no cue or gauge of the last one.
    location.assign(`${location.pathname}?follow=${encodeURIComponent(n.id)}&source=${encodeURIComponent(n.source)}`);
    return;
  }
  call.followed = n.id;
  call.session = { id: n.id };
  $("#setup").hidden = true;
  $("#live").hidden = false;
  $("#popout").hidden = false;
  $("#clock").hidden = false;
  $("#stop").hidden = true; // the phone call ends at the dialer
  document.body.dataset.phase = "live";
  document.body.dataset.session = n.id;
  document.body.dataset.source = n.source || "dialer";
  showAlert("#status", "info", `Following a phone call from ${sourceName(n.source)}${n.title ? ` (${n.title})` : ""}.`);
  onState("live", {});
  call.viewer = new Viewer({ id: n.id, onEvent, onEnd: () => onState("ended", {}) });
}

// ---- events ------------------------------------------------------------

function onEvent(ev) {
  if (typeof ev.at_ms === "number" && ev.at_ms > call.lastAt) {
    call.lastAt = ev.at_ms;
    $("#clock").textContent = clock(ev.at_ms);
  }
  switch (ev.type) {
    case "talk": meters.update(ev); break;
    case "stage": stages.update(ev); break;
    case "cue": cues.add(ev); break;
    case "cue_outcome": cues.outcome(ev); break;
    case "cue_update": cues.update(ev); break;
    case "transcript": showTranscript(ev); break;
    case "status": onStatus(ev); break;
    case "summary": call.summary = ev; break;
  }
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

// ---- pop-out and keys ----------------------------------------------------

async function onPopOut() {
  try {
    await popOut($("#live"), { onKey, theme: document.documentElement.dataset.theme || "" });
  } catch (err) {
    showAlert("#status", "warn", `⚠ Could not pop out: ${err.message}`);
  }
}

function onKey(e) {
  switch (keyAction(e)) {
    case "dismiss":
      if (cues.dismiss()) e.preventDefault();
      break;
    case "transcript":
      $("#transcript").open = !$("#transcript").open;
      break;
    case "popout":
      if (live()) onPopOut();
      break;
    case "theme":
      cycleTheme();
      break;
    case "stop":
      if (live()) stop();
      break;
    case "help":
      toggleHelp();
      break;
  }
}

init().catch((err) => {
  console.error(err);
  setup.error(`The overlay failed to load: ${err.message}. Reload the page to try again.`);
  $("#start").disabled = true;
});
