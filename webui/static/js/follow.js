// Following phone calls: a session of the signed-in rep that a dialer
// starts (Twilio, Telnyx, Plivo; see docs/telephony.md) is announced on
// the rep's live feed (GET /v1/me/live, a WebSocket), and an open overlay
// that is not running a call of its own attaches to it as a viewer
// (GET /v1/sessions/{id}/events) without the rep starting anything.

// parseNotice reads one text frame of the live feed; null if it is not a
// session announcement.
export function parseNotice(data) {
  let n;
  try {
    n = JSON.parse(data);
  } catch {
    return null;
  }
  if (!n || n.type !== "live" || typeof n.session_id !== "string" || !n.session_id) return null;
  return { id: n.session_id, source: String(n.source || ""), title: String(n.title || "") };
}

// shouldFollow says whether the overlay, in state {phase, session,
// followed}, attaches to the announced session: only while it waits
// (set-up) or shows a finished call, never over a call of its own or one
// it already shows.
export function shouldFollow(state, notice) {
  if (!notice) return false;
  if (state.session === notice.id || state.followed === notice.id) return false;
  return state.phase === "setup" || state.phase === "ended";
}

// sourceName is how the overlay names where a followed call comes from.
export function sourceName(source) {
  return { twilio: "Twilio", telnyx: "Telnyx", plivo: "Plivo", siprec: "SIP recording" }[source] || "a dialer";
}

// wsURL turns a same-origin path into a WebSocket URL.
export function wsURL(path, loc = globalThis.location) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}${path}`;
}

// LiveFeed keeps the rep's live feed open (reconnecting with backoff up to
// maxDelay ms) and calls onNotice for each announcement. The WebSocket
// constructor and the timer are parameters so tests can drive it.
export class LiveFeed {
  constructor({ onNotice, WS = globalThis.WebSocket, setTimer = globalThis.setTimeout, url = wsURL("/v1/me/live"), maxDelay = 10000 }) {
    this.onNotice = onNotice;
    this.WS = WS;
    this.setTimer = setTimer;
    this.url = url;
    this.maxDelay = maxDelay;
    this.delay = 500;
    this.closed = false;
    this.ws = null;
  }

  start() {
    if (this.closed) return;
    const ws = new this.WS(this.url);
    this.ws = ws;
    ws.onopen = () => { this.delay = 500; };
    ws.onmessage = (e) => {
      const n = parseNotice(e.data);
      if (n) this.onNotice(n);
    };
    ws.onclose = () => {
      if (this.closed) return;
      // Signed out, a restart, a network change: try again later.
      this.setTimer(() => this.start(), this.delay);
      this.delay = Math.min(this.maxDelay, this.delay * 2);
    };
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}

// Viewer shows a session that someone else streams: its events (the
// backlog first) go to onEvent, and onEnd is called once the socket
// closes (the session ended, or the link failed: reason says which).
export class Viewer {
  constructor({ id, onEvent, onEnd, WS = globalThis.WebSocket, loc = globalThis.location }) {
    this.ended = false;
    const ws = new WS(wsURL(`/v1/sessions/${encodeURIComponent(id)}/events`, loc));
    this.ws = ws;
    ws.onmessage = (e) => {
      let ev;
      try {
        ev = JSON.parse(e.data);
      } catch {
        return;
      }
      if (ev && typeof ev.type === "string") onEvent(ev);
    };
    ws.onclose = (e) => {
      if (this.ended) return;
      this.ended = true;
      onEnd(e?.reason || "");
    };
  }

  close() {
    this.ws.close();
  }
}
