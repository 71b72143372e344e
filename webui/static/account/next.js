// Pure helpers of the account pages (no DOM), unit-tested under Node.

/**
 * safeNext returns where to go after signing in: next when it is a path
 * on this origin ("/sessions?x=1"), else fallback. Absolute URLs,
 * protocol-relative "//host", backslash tricks ("/\host") and control
 * characters are refused, so a link cannot send a user off-site.
 */
export function safeNext(next, fallback = "/") {
  if (typeof next !== "string" || next === "") return fallback;
  if (!next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return fallback;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return fallback;
  let u;
  try {
    u = new URL(next, "http://cuecard.invalid");
  } catch {
    return fallback;
  }
  if (u.origin !== "http://cuecard.invalid") return fallback;
  if (u.pathname === "/signin" || u.pathname === "/setup") return fallback;
  return u.pathname + u.search + u.hash;
}

/** signInURL is the sign-in page that comes back to path afterwards. */
export function signInURL(path) {
  const next = safeNext(path, "");
  return next && next !== "/" ? `/signin?next=${encodeURIComponent(next)}` : "/signin";
}

/** canEditComment mirrors the server's rule: the author or an administrator. */
export function canEditComment(me, comment) {
  if (!me) return false;
  return me.role === "admin" || (!!comment.author_id && comment.author_id === me.id);
}

/** canErase: the owner of a call or an administrator may erase it. */
export function canErase(me, session) {
  if (!me) return false;
  return me.role === "admin" || (!!session.owner && session.owner === me.id);
}

/** scopesValue joins the checked scopes as the API wants them ("read,stream"). */
export function scopesValue(list) {
  return [...new Set(list.map((s) => String(s).trim()).filter(Boolean))].sort().join(",");
}

/** auditLines parses a JSONL audit export, skipping blank or broken lines. */
export function auditLines(text) {
  const out = [];
  for (const line of String(text).split("\n")) {
    if (!line.trim()) continue;
    try { out.push(JSON.parse(line)); } catch { /* a torn line */ }
  }
  return out;
}

/**
 * sessionError turns a refused POST /v1/sessions into words for the rep:
 * status is the HTTP status, msg the server's error text.
 */
export function sessionError(status, msg) {
  switch (status) {
    case 401: return "Your sign-in has expired. Sign in again to start the call.";
    case 403: return `You may not start calls: ${msg || "forbidden"}.`;
    case 409: return `The call has no consent record: confirm that everyone was told (${msg || "no consent"}).`;
    case 429: return `Too many calls or requests right now: finish a running call or wait a minute (${msg || "limit reached"}).`;
    default: return `The server refused the call: ${msg || `HTTP ${status}`}.`;
  }
}
