// sso.js shows the sign-in page's single sign-on button when the server
// has single sign-on, and makes it come back to the page the visitor was
// going to (the server checks that it is one of its own).
const link = document.getElementById("sso");
if (link) {
  const next = new URLSearchParams(location.search).get("next") || "/";
  link.href = "/v1/auth/oidc/login?next=" + encodeURIComponent(next);
  fetch("/ui-config.json", { cache: "no-store" })
    .then((r) => r.json())
    .then((c) => { link.hidden = !c.sso; })
    .catch(() => {});
}
