// The session library: list, filter, sort and page the calls; upload a
// recording; backtest a playbook.
import { api, clock, duration, el, pct, shareTag, STAGE_NAMES } from "/replay/common.js";
import { userMenu } from "/account/menu.js";
import { canErase } from "/account/next.js";

const $ = (s) => document.querySelector(s);
const filters = $("#filters");
const tbody = $("#sessions tbody");
let band = null; // the playbook's healthy rep share, once the server has said
let cursors = [""]; // cursors[i] opens page i
let page = 0;
let nextCursor = "";
let viewer = null; // the signed-in user (GET /v1/me)
const LIMIT = 50;

function query() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(filters)) if (v) q.set(k, v);
  return q;
}

function syncURL() {
  const q = query();
  history.replaceState(null, "", q.toString() ? `?${q}` : location.pathname);
}

async function load() {
  const q = query();
  q.set("limit", LIMIT);
  if (cursors[page]) q.set("cursor", cursors[page]);
  $("#list-error").hidden = true;
  try {
    const res = await api(`/v1/sessions?${q}`);
    render(res);
  } catch (e) {
    $("#list-error").textContent = `Could not list calls: ${e.message}`;
    $("#list-error").hidden = false;
  }
}

function render(res) {
  nextCursor = res.next_cursor || "";
  const start = page * LIMIT;
  $("#total").textContent = `(${res.total} matching)`;
  $("#page-info").textContent = res.sessions.length
    ? `Showing ${start + 1}–${start + res.sessions.length} of ${res.total}` : "No calls match.";
  $("#prev").disabled = page === 0;
  $("#next").disabled = !nextCursor;
  tbody.replaceChildren(...res.sessions.map(row));
  for (const s of res.sessions) if (s.source === "upload" && s.status !== "ended") watchUpload(s.id);
}

function row(s) {
  const date = new Date(s.created_at);
  const ended = s.status === "ended";
  const tag = band && shareTag(s.rep_share, band);
  const title = s.title || (s.source === "upload" ? "Uploaded call" : "Live call");
  return el("tr", { "data-id": s.id },
    el("td", {}, el("input", { type: "checkbox", class: "pick", value: s.id, "aria-label": `Select ${title} of ${date.toLocaleString()}` })),
    el("td", {}, el("time", { datetime: s.created_at }, date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }))),
    el("td", {}, s.rep || el("span", { class: "muted" }, "—")),
    el("td", {}, el("a", { href: `/sessions/${encodeURIComponent(s.id)}` }, title),
      ended ? "" : el("span", { class: "muted", id: `st-${s.id}` }, ` (${s.status === "live" && s.source === "upload" ? "analyzing" : s.status})`)),
    el("td", { class: "num" }, ended ? duration(s.duration_ms) : "—"),
    el("td", { class: "num" }, ended ? [pct(s.rep_share), tag && " ", tag && el("span", { class: `tag ${tag.cls}` }, tag.text)] : "—"),
    el("td", { class: "num" }, ended ? clock(s.longest_rep_monologue_ms) : "—"),
    el("td", {}, STAGE_NAMES[s.furthest_stage] || el("span", { class: "muted" }, "none")),
    el("td", { class: "num" }, ended ? `${s.cues_taken} / ${s.cues_fired}` + (s.cues_fired ? ` (${pct(s.uptake)})` : "") : "—"),
    el("td", {}, keepCell(s, title, date)));
}

// keepCell shows a call's legal hold (a toggle for administrators) and,
// to its owner or an administrator, the erase button.
function keepCell(s, title, date) {
  const label = `${title} of ${date.toLocaleString()}`;
  const out = [];
  if (viewer?.role === "admin") {
    out.push(el("label", { class: "check hold" }, el("input", { type: "checkbox", class: "hold-toggle", checked: s.legal_hold,
      "aria-label": `Legal hold on ${label}`, onchange: (e) => setHold(s, e.target) }), " Legal hold"));
  } else if (s.legal_hold) {
    out.push(el("span", { class: "hold-on" }, "On legal hold"));
  }
  if (canErase(viewer, s) && !s.legal_hold && s.status !== "live") {
    out.push(" ", el("button", { type: "button", class: "danger erase", "aria-label": `Erase ${label}`, onclick: () => erase(s, label) }, "Erase"));
  }
  return out;
}

function listStatus(ok, text) {
  $("#list-status").replaceChildren(el("span", { class: ok ? "ok" : "error" }, `${ok ? "✓" : "✗"} ${text}`));
}

async function setHold(s, box) {
  try {
    await api(`/v1/sessions/${encodeURIComponent(s.id)}/hold`, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ hold: box.checked }) });
    listStatus(true, box.checked ? "The call is on legal hold: it is kept." : "The legal hold is lifted.");
    load();
  } catch (e) {
    box.checked = !box.checked;
    listStatus(false, `Legal hold not changed: ${e.message}`);
  }
}

function erase(s, label) {
  const dlg = $("#erase-dialog");
  $("#erase-what").textContent = label;
  dlg.returnValue = "";
  dlg.addEventListener("close", async () => {
    if (dlg.returnValue !== "erase") return;
    try {
      await api(`/v1/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
      listStatus(true, `Erased ${label}.`);
      load();
    } catch (e) { listStatus(false, `Not erased: ${e.message}`); }
  }, { once: true });
  dlg.showModal();
}

const watching = new Set();
async function watchUpload(id, bar) {
  if (watching.has(id)) return;
  watching.add(id);
  try {
    for (;;) {
      let u;
      try { u = await api(`/v1/uploads/${encodeURIComponent(id)}`); } catch { return; }
      const frac = u.total_ms ? u.done_ms / u.total_ms : 0;
      const cell = document.getElementById(`st-${id}`);
      if (cell) cell.textContent = u.state === "analyzing" ? ` (analyzing ${pct(frac)})` : ` (${u.state})`;
      if (bar) { bar.value = frac; bar.textContent = pct(frac); }
      if (u.state !== "analyzing") {
        if (bar) {
          const st = $("#upload-status");
          st.replaceChildren(u.state === "done"
            ? el("p", { class: "ok" }, "✓ Analyzed. ", el("a", { href: `/sessions/${encodeURIComponent(id)}` }, "Open the replay"))
            : el("p", { class: "error" }, `✗ ${u.error || "analysis failed"}`));
        }
        load();
        return;
      }
      await new Promise((r) => setTimeout(r, 700));
    }
  } finally { watching.delete(id); }
}

// ---- filters, sort, paging
filters.addEventListener("submit", (e) => { e.preventDefault(); page = 0; cursors = [""]; syncURL(); load(); });
filters.addEventListener("reset", () => setTimeout(() => { page = 0; cursors = [""]; syncURL(); markSort(); load(); }));
filters.addEventListener("change", (e) => { if (e.target.name === "sort" || e.target.name === "order") markSort(); });
$("#next").addEventListener("click", () => { cursors[page + 1] = nextCursor; page++; load(); });
$("#prev").addEventListener("click", () => { page = Math.max(0, page - 1); load(); });
for (const th of document.querySelectorAll("th[data-sort]")) {
  th.querySelector("button").addEventListener("click", () => {
    const sort = filters.elements.sort, order = filters.elements.order;
    if (sort.value === th.dataset.sort) order.value = order.value === "desc" ? "asc" : "desc";
    else { sort.value = th.dataset.sort; order.value = "desc"; }
    markSort();
    filters.requestSubmit();
  });
}
function markSort() {
  const sort = filters.elements.sort.value || "date", asc = filters.elements.order.value === "asc";
  for (const th of document.querySelectorAll("th[data-sort]")) {
    if (th.dataset.sort === sort) th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
}

// ---- upload
const upForm = $("#upload");
upForm.addEventListener("change", (e) => {
  if (e.target.name !== "kind") return;
  const stereo = e.target.value === "stereo";
  $("#l-stereo").hidden = !stereo;
  $("#l-rep").hidden = $("#l-prospect").hidden = stereo;
});
upForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const stereo = upForm.elements.kind.value === "stereo";
  const fd = new FormData();
  const files = stereo ? ["stereo"] : ["rep", "prospect"];
  for (const f of files) {
    const file = upForm.elements[f].files[0];
    if (!file) { status(el("p", { class: "error" }, `Choose the ${f} file.`)); return; }
    fd.append(f, file);
  }
  for (const f of ["rep_name", "title"]) if (upForm.elements[f].value) fd.append(f, upForm.elements[f].value);
  const consentText = upForm.elements.consent_text.value.trim();
  if (!upForm.elements.consent.checked || !consentText) {
    status(el("p", { class: "error" }, "✗ Confirm that everyone on the recording was told, and say what they were told."));
    (consentText ? upForm.elements.consent : upForm.elements.consent_text).focus();
    return;
  }
  fd.append("consent", "true");
  fd.append("consent_text", consentText);
  const bar = el("progress", { max: "1", value: "0", "aria-label": "Upload and analysis progress" }, "0%");
  const label = el("span", {}, " Uploading… ");
  status(el("p", {}, label, bar));
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/uploads");
  xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) { bar.value = ev.loaded / ev.total; bar.textContent = pct(bar.value); } };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status !== 202) { status(el("p", { class: "error" }, `✗ Not uploaded: ${body.error || xhr.statusText}`)); return; }
    label.textContent = " Analyzing… ";
    bar.value = 0;
    load();
    watchUpload(body.id, bar);
  };
  xhr.onerror = () => status(el("p", { class: "error" }, "✗ Upload failed: network error"));
  xhr.send(fd);
});
function status(node) { $("#upload-status").replaceChildren(node); }

// ---- backtest
const src = $("#pb-src");
function pbStatus(node) { $("#pb-status").replaceChildren(node); }
$("#pb-load").addEventListener("click", async () => {
  try {
    const res = await fetch("/v1/playbook/source");
    if (!res.ok) throw new Error((await res.json()).error);
    src.value = await res.text();
    pbStatus(el("span", { class: "muted" }, "Loaded the server's playbook."));
  } catch (e) { pbStatus(el("span", { class: "error" }, e.message)); }
});
$("#pb-file").addEventListener("change", async (e) => {
  const f = e.target.files[0];
  if (f) { src.value = await f.text(); check(); }
});
$("#pb-check").addEventListener("click", () => check());

function showPlaybookError(b) {
  const parts = [el("strong", {}, "✗ "), b.line ? `Line ${b.line}: ${b.message}` : (b.message || b.error)];
  if (b.line) {
    const text = src.value.split("\n")[b.line - 1];
    if (text != null) parts.push(el("pre", { class: "muted" }, `${b.line} | ${text}`));
    const before = src.value.split("\n").slice(0, b.line - 1).join("\n").length + (b.line > 1 ? 1 : 0);
    src.focus();
    src.setSelectionRange(before, before + (text || "").length);
  }
  src.setAttribute("aria-invalid", "true");
  pbStatus(el("span", { class: "error" }, ...parts));
}

async function check() {
  if (!src.value.trim()) { pbStatus(el("span", { class: "error" }, "The playbook is empty.")); return false; }
  try {
    const r = await api("/v1/playbook/check", { method: "POST", headers: { "Content-Type": "application/yaml" }, body: src.value });
    src.removeAttribute("aria-invalid");
    pbStatus(el("span", { class: "ok" }, `✓ Playbook "${r.name}" is valid: ${r.cues.length} cues.`));
    return true;
  } catch (e) {
    if (e.body && e.body.error) showPlaybookError(e.body); else pbStatus(el("span", { class: "error" }, e.message));
    return false;
  }
}

async function backtest(body) {
  if (!src.value.trim()) {
    const res = await fetch("/v1/playbook/source");
    if (res.ok) src.value = await res.text();
  }
  const out = $("#bt-results");
  out.replaceChildren(el("p", { class: "muted" }, "Running…"));
  body.playbook = src.value;
  body.moved_ms = Number($("#bt-moved").value) || 1000;
  try {
    const r = await api("/v1/backtest", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    renderBacktest(r);
  } catch (e) {
    out.replaceChildren();
    if (e.body && e.body.error && e.status === 422) showPlaybookError(e.body);
    else out.replaceChildren(el("p", { class: "error" }, `Backtest failed: ${e.message}`));
  }
}
$("#bt-selected").addEventListener("click", () => {
  const ids = [...document.querySelectorAll("input.pick:checked")].map((c) => c.value);
  if (!ids.length) { $("#bt-results").replaceChildren(el("p", { class: "error" }, "Select calls in the list first.")); return; }
  backtest({ session_ids: ids });
});
$("#bt-filter").addEventListener("click", () => backtest({ filter: query().toString() }));

function cueItem(c, kind) {
  const t = kind === "moved" ? `${clock(c.from_ms)} → ${clock(c.at_ms)}` : clock(c.at_ms);
  const sym = { added: "+ added", removed: "− removed", moved: "↔ moved" }[kind];
  return el("li", { class: kind }, `${sym}: ${c.title || c.cue} at ${t}`, c.evidence ? el("span", { class: "muted" }, ` “${c.evidence}”`) : "");
}

function renderBacktest(r) {
  const rows = r.sessions.map((s) => el("tr", {},
    el("td", {}, el("a", { href: `/sessions/${encodeURIComponent(s.id)}` }, s.rep ? `${s.rep}, ` : "", s.created_at ? new Date(s.created_at).toLocaleString() : s.id)),
    el("td", { class: "num" }, s.error ? "—" : `${s.stored} → ${s.new}`),
    el("td", { class: "num" }, s.error ? "—" : String(s.same)),
    el("td", {}, s.error ? el("span", { class: "error" }, s.error)
      : (s.added.length + s.removed.length + s.moved.length === 0 ? el("span", { class: "muted" }, "no change")
        : el("ul", { class: "diff-list" }, ...s.added.map((c) => cueItem(c, "added")), ...s.removed.map((c) => cueItem(c, "removed")),
          ...s.moved.map((c) => cueItem(c, "moved")))))));
  const tot = r.sessions.reduce((a, s) => ({ add: a.add + (s.added || []).length, rem: a.rem + (s.removed || []).length, mov: a.mov + (s.moved || []).length }), { add: 0, rem: 0, mov: 0 });
  $("#bt-results").replaceChildren(
    el("p", {}, `Playbook "${r.playbook}" on ${r.sessions.length} calls: `, el("span", { class: "added" }, `${tot.add} added`), ", ",
      el("span", { class: "removed" }, `${tot.rem} removed`), ", ", el("span", { class: "moved" }, `${tot.mov} moved`),
      ` (by more than ${r.moved_ms} ms).`, r.truncated ? " Only the first 100 matching calls ran." : ""),
    el("table", { class: "sessions", id: "bt-table" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Call"), el("th", { scope: "col", class: "num" }, "Cues on the call → now"),
        el("th", { scope: "col", class: "num" }, "Unchanged"), el("th", { scope: "col" }, "Changes"))),
      el("tbody", {}, ...rows)));
}

// ---- start
(async function init() {
  viewer = await userMenu();
  const q = new URLSearchParams(location.search);
  try {
    const teams = await api("/v1/teams");
    $("#f-team").append(...teams.map((t) => el("option", { value: t.id }, t.name)));
    $("#f-team").closest("label").hidden = teams.length === 0;
  } catch { /* no team filter */ }
  for (const [k, v] of q) if (filters.elements[k]) filters.elements[k].value = v;
  markSort();
  try { band = (await api("/v1/playbook")).talk.healthy_rep_share; } catch { /* shares shown without a verdict */ }
  try {
    const reps = await api("/v1/reps");
    const sel = $("#f-rep");
    for (const r of reps) sel.append(el("option", { value: r }, r));
    if (q.get("rep")) sel.value = q.get("rep");
  } catch { /* no rep list */ }
  await load();
  document.body.dataset.ready = "true";
})();
