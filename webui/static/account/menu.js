// The signed-in user (GET /v1/me) and the user menu every signed-in page
// shows: name, role, links (overlay, library, admin for administrators,
// account) and "Sign out".
import { signInURL } from "./next.js";

let mePromise = null;

/** goSignIn sends the browser to the sign-in page, coming back here after. */
export function goSignIn() {
  location.assign(signInURL(location.pathname + location.search));
}

/**
 * me resolves to the signed-in user ({id, email, name, role, teams,
 * scopes}); on 401 it sends the browser to the sign-in page and never
 * resolves. It asks the server once per page.
 */
export function me() {
  if (!mePromise) {
    mePromise = fetch("/v1/me", { headers: { Accept: "application/json" } }).then((r) => {
      if (r.status === 401) {
        goSignIn();
        return new Promise(() => {});
      }
      if (!r.ok) throw new Error(`who am I: HTTP ${r.status}`);
      return r.json();
    });
  }
  return mePromise;
}

/** signOut ends the browser session and goes to the sign-in page. */
export async function signOut() {
  try {
    await fetch("/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  } finally {
    location.assign("/signin");
  }
}

const ROLE_NAMES = { admin: "Administrator", coach: "Coach", rep: "Rep" };

function node(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  e.append(...kids);
  return e;
}

/**
 * userMenu fills the element sel (a <nav> placeholder) with the user's
 * menu once /v1/me answers, and resolves to the user.
 */
export async function userMenu(sel = "#user-menu") {
  const u = await me();
  const host = document.querySelector(sel);
  if (!host) return u;
  const here = location.pathname.replace(/\/+$/, "") || "/";
  const links = [["/", "Overlay"], ["/sessions", "Calls"]];
  if (u.role === "admin") links.push(["/admin", "Admin"]);
  links.push(["/account", "My account"]);
  const list = node("ul", { class: "menu-links" }, ...links.map(([href, text]) => {
    const a = node("a", { href }, text);
    if (href === here || (href === "/sessions" && here.startsWith("/sessions"))) a.setAttribute("aria-current", "page");
    return node("li", {}, a);
  }));
  const out = node("button", { type: "button", class: "signout", id: "signout" }, "Sign out");
  out.addEventListener("click", signOut);
  list.append(node("li", {}, out));
  const who = node("p", { class: "who", id: "whoami" },
    node("span", { class: "user-name" }, u.name || u.email), " ",
    node("span", { class: "role-tag", "data-role": u.role }, `(${ROLE_NAMES[u.role] || u.role})`));
  host.replaceChildren(who, list);
  host.hidden = false;
  document.body.dataset.user = u.email;
  return u;
}
