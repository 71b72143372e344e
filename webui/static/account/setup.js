// The first start's set-up page: the one-time link (?token=) creates the
// first administrator, who is then signed in and sent to the overlay.
const $ = (s) => document.querySelector(s);
const token = new URLSearchParams(location.search).get("token") || "";

function showError(text) {
  $("#setup-error").textContent = text ? `✗ ${text}` : "";
  $("#setup-error").hidden = !text;
}

async function submit(e) {
  e.preventDefault();
  const name = $("#name").value.trim(), email = $("#email").value.trim();
  const password = $("#password").value;
  if (!name || !email) return showError("Enter your name and your email.");
  if (password.length < 10) return showError("The password needs at least 10 characters.");
  if (password !== $("#password2").value) return showError("The two passwords differ.");
  if (!token) return showError("This page needs the set-up link's token (?token=…): open the link cuecard printed.");
  showError("");
  $("#setup-btn").disabled = true;
  try {
    const r = await fetch("/v1/auth/setup", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token, email, name, password }),
    });
    if (!r.ok) {
      const msg = (await r.json().catch(() => ({}))).error || `HTTP ${r.status}`;
      showError(r.status === 401 || r.status === 403 || r.status === 404
        ? `The set-up link is wrong or already used (${msg}).` : `Could not set up: ${msg}.`);
      return;
    }
    // The set-up may or may not sign in; signing in here makes sure.
    const me = await fetch("/v1/me");
    if (me.status === 401) {
      await fetch("/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ email, password }) });
    }
    location.assign("/");
  } catch (err) {
    showError(`Could not reach the server: ${err.message}.`);
  } finally {
    $("#setup-btn").disabled = false;
  }
}

$("#setup").addEventListener("submit", submit);
fetch("/v1/auth/setup").then((r) => r.json()).then((s) => {
  if (!s.open) {
    $("#setup-closed").hidden = false;
    $("#setup").hidden = true;
  }
}).catch(() => {}).finally(() => { document.body.dataset.ready = "true"; });
