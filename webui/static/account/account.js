// "My account": who I am, my password, my API tokens.
import { api, el } from "/replay/common.js";
import { userMenu } from "./menu.js";
import { scopesValue } from "./next.js";
import { tokenRows } from "./tokens.js";

const $ = (s) => document.querySelector(s);
const json = (body, method = "POST") => ({ method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const say = (sel, ok, text) => $(sel).replaceChildren(el("span", { class: ok ? "ok" : "error" }, `${ok ? "✓" : "✗"} ${text}`));

function showMe(u) {
  const teams = (u.teams || []).map((t) => `${t.team_name} (${t.role})`).join(", ") || "none";
  $("#me-info").replaceChildren(el("dt", {}, "Name"), el("dd", {}, u.name), el("dt", {}, "Email"), el("dd", {}, u.email),
    el("dt", {}, "Role"), el("dd", {}, u.role), el("dt", {}, "Teams"), el("dd", {}, teams));
  if (u.role === "admin") $("#scope-admin").hidden = false;
}

async function changePassword(e) {
  e.preventDefault();
  const current = $("#pw-current").value, password = $("#pw-new").value;
  if (password.length < 10) return say("#pw-status", false, "The new password needs at least 10 characters.");
  if (password !== $("#pw-new2").value) return say("#pw-status", false, "The two new passwords differ.");
  try {
    await api("/v1/me/password", json({ current, password }));
    e.target.reset();
    say("#pw-status", true, "Password changed.");
  } catch (err) {
    say("#pw-status", false, err.status === 429 ? "Too many attempts: wait a minute." : err.message);
  }
}

async function loadTokens() {
  try {
    const ts = await api("/v1/tokens");
    $("#tokens tbody").replaceChildren(...tokenRows(ts, { onRevoked: loadTokens, onError: (e) => say("#tok-new", false, e.message) }));
  } catch (e) { say("#tok-new", false, `Could not list tokens: ${e.message}`); }
}

async function makeToken(e) {
  e.preventDefault();
  const scopes = scopesValue([...document.querySelectorAll('input[name="scope"]:checked')].map((c) => c.value));
  if (!scopes) return say("#tok-new", false, "Pick at least one scope.");
  try {
    const t = await api("/v1/tokens", json({ name: $("#tok-name").value.trim(), scopes, expires_in_days: Number($("#tok-days").value) || 0 }));
    $("#tok-new").replaceChildren(el("p", { class: "ok" }, "✓ Token made. Copy it now: it is not shown again."),
      el("p", { class: "token-once", id: "token-value" }, t.token));
    $("#tok-name").value = "";
    loadTokens();
  } catch (err) { say("#tok-new", false, err.message); }
}

(async function init() {
  const u = await userMenu();
  showMe(u);
  $("#pw-form").addEventListener("submit", changePassword);
  $("#tok-form").addEventListener("submit", makeToken);
  await loadTokens();
  document.body.dataset.ready = "true";
})();
