// Listing, making and revoking API tokens: shared by "my account" and the
// admin page.
import { api, el } from "/replay/common.js";

const day = (t) => (t ? new Date(t).toLocaleDateString([], { dateStyle: "medium" }) : "—");

/** tokenState says in words whether a token works. */
export function tokenState(t, now = Date.now()) {
  if (t.revoked_at) return "✗ revoked";
  if (t.expires_at && new Date(t.expires_at).getTime() <= now) return "✗ expired";
  return "✓ active";
}

/** tokenRows renders tokens as table rows; onRevoked runs after a revoke. */
export function tokenRows(tokens, { users = null, onRevoked, onError }) {
  return tokens.map((t) => {
    const name = t.name || t.id;
    const cells = [el("td", {}, name)];
    if (users) cells.push(el("td", {}, users[t.user_id] || t.user_id));
    cells.push(el("td", {}, (t.scopes || []).join(", ")), el("td", {}, day(t.created_at)), el("td", {}, t.expires_at ? day(t.expires_at) : "never"),
      el("td", {}, day(t.last_used_at)), el("td", {}, tokenState(t)));
    const revoke = t.revoked_at ? "" : el("button", { type: "button", class: "danger revoke", "aria-label": `Revoke the token ${name}`, onclick: async () => {
      if (!confirm(`Revoke the token “${name}”? Tools using it stop working.`)) return;
      try {
        await api(`/v1/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE" });
        onRevoked();
      } catch (e) { onError(e); }
    } }, "Revoke");
    cells.push(el("td", {}, revoke));
    return el("tr", { "data-id": t.id }, ...cells);
  });
}
