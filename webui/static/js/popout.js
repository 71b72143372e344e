// Pop-out: moves the live view into a small window that floats over the
// call. Document Picture-in-Picture (Chrome, Edge) keeps it on top of
// every other window; elsewhere a small pop-up window is the fallback
// (the system decides whether it stays on top). The elements move with
// their listeners, so the page keeps updating them; closing the window
// brings them back.

let win = null;
let moved = null;
let placeholder = null;

// popOutDocument returns the floating window's document while it is open.
export function popOutDocument() {
  return win && !win.closed ? win.document : null;
}

// popOut moves el into the floating window. It must run in a user gesture
// (click or key); it throws when the browser refuses the window.
export async function popOut(el, { onKey, theme }) {
  if (popOutDocument()) {
    win.focus();
    return;
  }
  let w;
  if ("documentPictureInPicture" in window) {
    w = await window.documentPictureInPicture.requestWindow({ width: 420, height: 640 });
  } else {
    w = window.open("", "cuecard-overlay", "popup=yes,width=420,height=640");
    if (!w) throw new Error("the browser blocked the window: allow pop-ups for this page");
  }
  const d = w.document;
  d.title = "cuecard";
  d.documentElement.lang = "en";
  if (theme) d.documentElement.dataset.theme = theme;
  for (const l of document.querySelectorAll('link[rel="stylesheet"]')) {
    const c = d.createElement("link");
    c.rel = "stylesheet";
    c.href = l.href;
    d.head.append(c);
  }
  d.body.classList.add("floating");
  const main = d.createElement("main");
  d.body.append(main);

  placeholder = document.createElement("p");
  placeholder.className = "note";
  placeholder.append("The overlay is in its floating window. ");
  const back = document.createElement("button");
  back.type = "button";
  back.className = "secondary";
  back.textContent = "Bring it back";
  back.addEventListener("click", closePopOut);
  placeholder.append(back);
  el.before(placeholder);
  main.append(el);
  moved = el;
  win = w;
  w.addEventListener("keydown", onKey);
  w.addEventListener("pagehide", restore, { once: true });
}

// setPopOutTheme follows a theme change in the floating window.
export function setPopOutTheme(theme) {
  const d = popOutDocument();
  if (!d) return;
  if (theme) d.documentElement.dataset.theme = theme;
  else delete d.documentElement.dataset.theme;
}

function restore() {
  if (moved && placeholder) placeholder.replaceWith(moved);
  moved = null;
  placeholder = null;
  win = null;
}

// closePopOut brings the live view back and closes the floating window.
export function closePopOut() {
  const w = win;
  restore();
  w?.close();
}
