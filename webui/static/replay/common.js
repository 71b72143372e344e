// Helpers shared by the coaches' pages.

/** clock formats milliseconds of media time as m:ss (h:mm:ss from an hour). */
export function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** duration formats milliseconds as "4 min 05 s" style text for lists. */
export function duration(ms) {
  if (!ms) return "0 s";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(s % 60).padStart(2, "0")} s`;
}

export const pct = (x) => `${Math.round((x || 0) * 100)}%`;

/** api fetches a JSON API path and throws an Error with the server's message. */
export async function api(path, opts = {}) {
  const res = await fetch(path, opts);
  const ct = res.headers.get("Content-Type") || "";
  const body = ct.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.body = body;
    throw err;
  }
  return body;
}

/** el builds an element: el("li", {class: "x", onclick: f}, "text", child). */
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k != null && k !== false) e.append(k instanceof Node ? k : String(k));
  return e;
}

export const STAGES = ["rapport", "discovery", "future", "relationship", "commitment"];
export const STAGE_NAMES = {
  rapport: "Rapport", discovery: "Discovery", future: "Future", relationship: "Relationship", commitment: "Commitment",
};

/** shareTag says how a rep talk share compares with the healthy band [lo, hi] (the playbook's), in words. */
export function shareTag(share, [lo, hi]) {
  if (share > hi) return { cls: "high", text: "too high" };
  if (share < lo) return { cls: "low", text: "low" };
  return { cls: "good", text: "healthy" };
}
