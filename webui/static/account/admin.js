// The administrator's page: users, teams (members, consent and retention
// policy), every API token, the audit log and retention.
import { api, el } from "/replay/common.js";
import { userMenu } from "./menu.js";
import { auditLines } from "./next.js";
import { tokenRows } from "./tokens.js";

const $ = (s) => document.querySelector(s);
const json = (body, method = "POST") => ({ method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const say = (sel, ok, text) => $(sel).replaceChildren(el("span", { class: ok ? "ok" : "error" }, `${ok ? "✓" : "✗"} ${text}`));
const enc = encodeURIComponent;

let users = [];
let teams = [];
let self = null;

// ---- users -------------------------------------------------------------------

async function loadUsers() {
  users = await api("/v1/users");
  $("#users tbody").replaceChildren(...users.map(userRow));
}

function userRow(u) {
  const role = el("select", { "aria-label": `Role of ${u.email}` },
    ...["rep", "coach", "admin"].map((r) => el("option", { value: r, selected: r === u.role }, r)));
  const pw = el("input", { type: "password", autocomplete: "new-password", minlength: "10", "aria-label": `New password for ${u.email}` });
  const mine = self && u.id === self.id;
  return el("tr", { "data-id": u.id, "data-email": u.email },
    el("td", {}, u.name), el("td", {}, u.email), el("td", {}, role,
      el("button", { type: "button", class: "set-role", disabled: mine, onclick: () => patchUser(u, { role: role.value }, `Role of ${u.email} is now ${role.value}.`) }, "Change role")),
    el("td", {}, (u.teams || []).map((t) => `${t.team_name} (${t.role})`).join(", ") || "—"),
    el("td", {}, u.disabled ? "✗ disabled" : "✓ active"),
    el("td", {},
      el("button", { type: "button", class: u.disabled ? "enable" : "danger disable", disabled: mine,
        onclick: () => patchUser(u, { disabled: !u.disabled }, `${u.email} is ${u.disabled ? "enabled" : "disabled"}.`) }, u.disabled ? "Enable" : "Disable"),
      " ", pw, el("button", { type: "button", class: "reset-pw", onclick: () => resetPassword(u, pw) }, "Reset password")));
}

async function patchUser(u, patch, done) {
  try {
    await api(`/v1/users/${enc(u.id)}`, json(patch, "PATCH"));
    say("#users-status", true, done);
    await loadUsers();
  } catch (e) { say("#users-status", false, e.message); }
}

async function resetPassword(u, input) {
  if (input.value.length < 10) return say("#users-status", false, "A password needs at least 10 characters.");
  try {
    await api(`/v1/users/${enc(u.id)}/password`, json({ password: input.value }));
    input.value = "";
    say("#users-status", true, `Password of ${u.email} reset.`);
  } catch (e) { say("#users-status", false, e.message); }
}

async function createUser(e) {
  e.preventDefault();
  const body = { email: $("#u-email").value.trim(), name: $("#u-name").value.trim(), role: $("#u-role").value, password: $("#u-password").value };
  if ($("#u-team").value) body.teams = [{ team: $("#u-team").value, role: $("#u-team-role").value }];
  try {
    const u = await api("/v1/users", json(body));
    e.target.reset();
    say("#users-status", true, `User ${u.email} created.`);
    await loadUsers();
    renderTeams();
  } catch (err) { say("#users-status", false, err.message); }
}

// ---- teams -------------------------------------------------------------------

async function loadTeams() {
  teams = await api("/v1/teams");
  $("#u-team").replaceChildren(el("option", { value: "" }, "No team"), ...teams.map((t) => el("option", { value: t.id }, t.name)));
  renderTeams();
}

function renderTeams() {
  $("#teams").replaceChildren(...teams.map(teamBlock));
}

function teamBlock(t) {
  const members = users.flatMap((u) => (u.teams || []).filter((m) => m.team_id === t.id).map((m) => ({ u, role: m.role })));
  const who = el("select", { "aria-label": `User to add to ${t.name}` }, ...users.map((u) => el("option", { value: u.id }, `${u.name} <${u.email}>`)));
  const role = el("select", { "aria-label": `Role in ${t.name}` }, el("option", { value: "rep" }, "rep"), el("option", { value: "coach" }, "coach"));
  const block = el("section", { class: "panel team", "data-team": t.name, "aria-label": `Team ${t.name}` },
    el("h3", {}, t.name),
    el("h4", {}, "Members"),
    members.length ? el("ul", {}, ...members.map(({ u, role: r }) => el("li", {}, `${u.name} <${u.email}> (${r}) `,
      el("button", { type: "button", "aria-label": `Remove ${u.email} from ${t.name}`, onclick: () => member(t, u.id, null) }, "Remove")))) : el("p", { class: "muted" }, "No members."),
    el("div", { class: "row" }, who, role, el("button", { type: "button", class: "add-member", onclick: () => member(t, who.value, role.value) }, "Add or change member")),
    el("h4", {}, "Consent and retention"), policyForm(t));
  return block;
}

async function member(t, userID, role) {
  try {
    if (role) await api(`/v1/teams/${enc(t.id)}/members/${enc(userID)}`, json({ role }, "PUT"));
    else await api(`/v1/teams/${enc(t.id)}/members/${enc(userID)}`, { method: "DELETE" });
    say("#teams-status", true, `Members of ${t.name} changed.`);
    await loadUsers();
    renderTeams();
  } catch (e) { say("#teams-status", false, e.message); }
}

function policyForm(t) {
  const f = el("form", { class: "stack policy" },
    el("label", {}, "Consent law ", el("select", { name: "consent_policy" }, el("option", { value: "all-party" }, "All-party consent (everyone must agree)"),
      el("option", { value: "one-party" }, "One-party consent"))),
    el("label", {}, "Consent text the rep reads out ", el("textarea", { name: "consent_text", rows: "3", cols: "60", maxlength: "2000" })),
    el("label", {}, "Keep recordings (days, 0 = forever) ", el("input", { type: "number", name: "recordings_days", min: "0" })),
    el("label", {}, "Keep transcripts (days, 0 = forever) ", el("input", { type: "number", name: "transcripts_days", min: "0" })),
    el("button", { type: "submit", class: "primary" }, "Save the policy"), el("span", { class: "policy-status", role: "status" }));
  api(`/v1/teams/${enc(t.id)}/policy`).then((p) => {
    f.elements.consent_policy.value = p.consent_policy || "all-party";
    f.elements.consent_text.value = p.consent_text || "";
    f.elements.recordings_days.value = p.recordings_days || 0;
    f.elements.transcripts_days.value = p.transcripts_days || 0;
  }).catch(() => {});
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    const st = f.querySelector(".policy-status");
    try {
      const p = await api(`/v1/teams/${enc(t.id)}/policy`, json({ consent_policy: f.elements.consent_policy.value, consent_text: f.elements.consent_text.value.trim(),
        recordings_days: Number(f.elements.recordings_days.value) || 0, transcripts_days: Number(f.elements.transcripts_days.value) || 0 }, "PUT"));
      st.replaceChildren(el("span", { class: "ok" }, ` ✓ Saved (consent text version ${p.consent_version}).`));
    } catch (err) { st.replaceChildren(el("span", { class: "error" }, ` ✗ ${err.message}`)); }
  });
  return f;
}

async function createTeam(e) {
  e.preventDefault();
  try {
    const t = await api("/v1/teams", json({ name: $("#t-name").value.trim() }));
    e.target.reset();
    say("#teams-status", true, `Team ${t.name} created.`);
    await loadTeams();
  } catch (err) { say("#teams-status", false, err.message); }
}

// ---- tokens ------------------------------------------------------------------

async function loadTokens() {
  try {
    const names = Object.fromEntries(users.map((u) => [u.id, u.email]));
    const ts = await api("/v1/tokens?all=1");
    $("#all-tokens tbody").replaceChildren(...tokenRows(ts, { users: names, onRevoked: loadTokens, onError: (e) => say("#tokens-status", false, e.message) }));
  } catch (e) { say("#tokens-status", false, e.message); }
}

// ---- audit log ---------------------------------------------------------------

let auditAfter = 0;

function auditQuery(after) {
  const q = new URLSearchParams({ limit: $("#a-limit").value });
  if (after) q.set("after", after);
  if ($("#a-action").value.trim()) q.set("action", $("#a-action").value.trim());
  return q;
}

async function loadAudit(after) {
  const q = auditQuery(after);
  const dl = auditQuery(0);
  dl.set("limit", "1000");
  $("#a-download").href = `/v1/audit?${dl}`;
  try {
    const r = await fetch(`/v1/audit?${q}`);
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || `HTTP ${r.status}`);
    const es = auditLines(await r.text());
    $("#audit tbody").replaceChildren(...es.map((a) => el("tr", { "data-seq": a.seq },
      el("td", {}, String(a.seq)), el("td", {}, new Date(a.at).toLocaleString()), el("td", {}, a.actor || a.actor_id || "—"),
      el("td", {}, a.action), el("td", {}, a.target || ""), el("td", {}, a.ip || ""), el("td", {}, a.detail ? JSON.stringify(a.detail) : ""))));
    auditAfter = es.length ? es[es.length - 1].seq : after;
    $("#a-next").disabled = es.length < Number($("#a-limit").value);
    $("#audit-status").textContent = es.length ? `Entries ${es[0].seq} to ${auditAfter}.` : "No entries.";
  } catch (e) { say("#audit-status", false, e.message); }
}

// ---- retention ---------------------------------------------------------------

async function retention(run) {
  if (run && !confirm("Remove now every recording and transcript the teams' policies say must go? This cannot be undone.")) return;
  try {
    const r = await api(run ? "/v1/retention/run" : "/v1/retention", run ? json({}) : {});
    const items = r.items || [];
    $("#ret-out").replaceChildren(
      el("p", {}, run ? `✓ Retention ran: ${r.removed} removed.` : `Dry run: ${items.length} would be removed.`, (r.errors || []).length ? ` ✗ ${r.errors.length} errors: ${r.errors.join("; ")}` : ""),
      items.length ? el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["Call", "Team", "What", "Ended", "Kept (days)"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...items.map((i) => el("tr", {}, el("td", {}, el("a", { href: `/sessions/${enc(i.session_id)}` }, i.session_id)),
          el("td", {}, i.team), el("td", {}, i.what), el("td", {}, new Date(i.ended_at).toLocaleString()), el("td", {}, String(i.keep_days)))))) : "");
  } catch (e) { $("#ret-out").replaceChildren(el("p", { class: "error" }, `✗ ${e.message}`)); }
}

(async function init() {
  self = await userMenu();
  if (self.role !== "admin") {
    $("#admin-error").textContent = "✗ Only administrators may use this page.";
    $("#admin-error").hidden = false;
    document.body.dataset.ready = "true";
    return;
  }
  $("#user-form").addEventListener("submit", createUser);
  $("#team-form").addEventListener("submit", createTeam);
  $("#audit-form").addEventListener("submit", (e) => { e.preventDefault(); loadAudit(0); });
  $("#a-first").addEventListener("click", () => loadAudit(0));
  $("#a-next").addEventListener("click", () => loadAudit(auditAfter));
  $("#ret-dry").addEventListener("click", () => retention(false));
  $("#ret-run").addEventListener("click", () => retention(true));
  await loadUsers();
  await loadTeams();
  await Promise.all([loadTokens(), loadAudit(0)]);
  document.body.dataset.ready = "true";
})();
