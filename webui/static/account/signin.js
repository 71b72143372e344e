// The sign-in page: email and password, then back to where the visitor
// was going (?next=, same-origin paths only).
import { safeNext } from "./next.js";

const $ = (s) => document.querySelector(s);
const next = safeNext(new URLSearchParams(location.search).get("next"));

function showError(text) {
  $("#signin-error").textContent = text ? `✗ ${text}` : "";
  $("#signin-error").hidden = !text;
}

async function signIn(e) {
  e.preventDefault();
  const email = $("#email").value.trim(), password = $("#password").value;
  if (!email || !password) {
    showError("Enter your email and your password.");
    (email ? $("#password") : $("#email")).focus();
    return;
  }
  showError("");
  const btn = $("#signin-btn");
  btn.disabled = true;
  btn.textContent = "Signing in…";
  try {
    const r = await fetch("/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    if (r.ok) {
      location.assign(next);
      return;
    }
    if (r.status === 401) showError("The email or the password is wrong, or the account is disabled.");
    else if (r.status === 429) showError("Too many attempts: wait a minute, then try again.");
    else showError(`Could not sign in: ${(await r.json().catch(() => ({}))).error || `HTTP ${r.status}`}.`);
    $("#password").select();
  } catch (err) {
    showError(`Could not reach the server: ${err.message}.`);
  } finally {
    btn.disabled = false;
    btn.textContent = "Sign in";
  }
}

$("#signin").addEventListener("submit", signIn);
fetch("/v1/auth/setup").then((r) => r.json()).then((s) => { if (s.open) $("#setup-note").hidden = false; }).catch(() => {});
document.body.dataset.ready = "true";
