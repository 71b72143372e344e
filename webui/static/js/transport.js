// The live link to the server: WebRTC (two audio tracks and the "events"
// data channel) or, where WebRTC cannot connect, the WebSocket stream with
// 20 ms PCM frames from the taps. A dropped link is re-established to the
// same session (the server keeps it for 30 s); the events stream goes on
// where it was.

const RECONNECT_WINDOW_MS = 30000;
const CONNECT_TIMEOUT_MS = 8000;
const GATHER_TIMEOUT_MS = 3000;
const STOP_TIMEOUT_MS = 20000;
const MAX_WS_BUFFER = 1 << 20; // bytes queued on the socket before frames are dropped

// EndedError means the session is over on the server (stopped, timed out).
export class EndedError extends Error {}

// SessionRefused is a POST /v1/sessions the server said no to: status is
// the HTTP status (401 signed out, 409 no consent, 429 a limit), detail
// the server's words.
export class SessionRefused extends Error {
  constructor(status, detail) {
    super(`the server refused the session: ${detail} (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

// createSession creates a live session of the signed-in rep with the
// consent they gave (the text they read out); team is the team it counts
// under ("" for the server's choice).
export async function createSession({ title, consentText, sampleRate, team }) {
  const body = { title, consent: true, consent_text: consentText, sample_rate: sampleRate };
  if (team) body.team = team;
  const resp = await fetch("/v1/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!resp.ok) {
    let detail = `HTTP ${resp.status}`;
    try { detail = (await resp.json()).error || detail; } catch { /* not JSON */ }
    throw new SessionRefused(resp.status, detail);
  }
  return resp.json();
}

// fetchSession returns the stored session (with its summary once ended).
export async function fetchSession(id) {
  const resp = await fetch(`/v1/sessions/${encodeURIComponent(id)}`);
  if (!resp.ok) throw new Error(await errorText(resp));
  return resp.json();
}

async function errorText(resp) {
  try {
    const j = await resp.json();
    if (j?.error) return `${j.error} (${resp.status})`;
  } catch { /* not JSON */ }
  return `HTTP ${resp.status}`;
}

function delay(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// Link keeps a session's audio and events flowing. Callbacks:
//   onEvent(ev)            every event, in order, once
//   onState(state, info)   "connecting" | "live" | "reconnecting" | "ended" | "failed"; info.transport
export class Link {
  constructor({ id, streams, taps, sampleRate, transport = "auto", onEvent, onState }) {
    this.id = id;
    this.streams = streams; // {rep: MediaStream, prospect: MediaStream}
    this.taps = taps;
    this.sampleRate = sampleRate;
    this.mode = transport; // "auto" | "webrtc" | "ws"
    this.onEvent = onEvent;
    this.onState = onState;
    this.current = null; // {kind, pc, dc, ws, close()}
    this.stopping = false;
    this.ended = false;
    this.lostAt = 0;
    this.wake = null;
    this.online = () => this.wake?.abort();
    window.addEventListener("online", this.online);
  }

  // start connects for the first time: WebRTC, falling back to the
  // WebSocket when WebRTC is unavailable or does not connect.
  async start() {
    this.onState("connecting", {});
    try {
      await this.connectOnce(true);
    } catch (err) {
      if (err instanceof EndedError) {
        this.finish();
        return;
      }
      this.onState("failed", { error: err.message });
      throw err;
    }
  }

  async connectOnce(first) {
    const tryRTC = this.mode !== "ws" && typeof RTCPeerConnection === "function";
    if (tryRTC) {
      try {
        await this.connectRTC();
        return;
      } catch (err) {
        if (err instanceof EndedError || this.mode === "webrtc") throw err;
        console.warn("cuecard: WebRTC failed, using the WebSocket", err);
        if (first) this.mode = "ws"; // it will not work better later
      }
    }
    await this.connectWS();
  }

  // send hands a PCM frame from the taps to the WebSocket, if that is the
  // link in use; frames are dropped while it is down or congested.
  sendPCM(side, buf) {
    const c = this.current;
    if (!c || c.kind !== "ws" || c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > MAX_WS_BUFFER) return;
    const out = new Uint8Array(1 + buf.byteLength);
    out[0] = side === "rep" ? 0 : 1;
    out.set(new Uint8Array(buf), 1);
    c.ws.send(out);
  }

  // iceServers asks the server which STUN and TURN servers to gather
  // candidates with. TURN credentials are short-lived and only for the
  // session's owner, so they are asked for on every connection; none
  // when the server cannot say.
  async iceServers() {
    try {
      const r = await fetch(`/v1/sessions/${encodeURIComponent(this.id)}/ice-servers`, { cache: "no-store" });
      if (!r.ok) return [];
      return (await r.json()).ice_servers || [];
    } catch {
      return [];
    }
  }

  async connectRTC() {
    const iceServers = await this.iceServers();
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceServers });
    const c = { kind: "webrtc", pc, dc: null, closed: false };
    c.close = () => {
      c.closed = true;
      try { c.dc?.close(); } catch { /* already closed */ }
      pc.close();
    };
    try {
      const dc = pc.createDataChannel("events", { ordered: true });
      c.dc = dc;
      // The rep's track first: the server takes the first as the rep.
      for (const side of ["rep", "prospect"]) {
        const s = this.streams[side];
        pc.addTransceiver(s.getAudioTracks()[0], { direction: "sendonly", streams: [s] });
      }
      dc.onmessage = (e) => this.deliver(e.data);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await gathered(pc, GATHER_TIMEOUT_MS);
      const resp = await fetch(`/v1/sessions/${encodeURIComponent(this.id)}/webrtc`, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      if (resp.status === 409 || resp.status === 404) throw new EndedError(await errorText(resp));
      if (!resp.ok) throw new Error(`WebRTC offer refused: ${await errorText(resp)}`);
      await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
      await opened(pc, dc, CONNECT_TIMEOUT_MS);
    } catch (err) {
      c.close();
      throw err;
    }
    this.current = c;
    this.taps.setSend(false);
    let dropTimer = 0;
    const lost = () => {
      clearTimeout(dropTimer);
      if (!c.closed && this.current === c) this.lost(c);
    };
    pc.onconnectionstatechange = () => {
      const st = pc.connectionState;
      if (st === "failed" || st === "closed") lost();
      else if (st === "disconnected") dropTimer = setTimeout(lost, 3000); // ICE may recover by itself
      else if (st === "connected") clearTimeout(dropTimer);
    };
    c.dc.onclose = lost;
    this.onState("live", { transport: "webrtc" });
  }

  async connectWS() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/v1/sessions/${encodeURIComponent(this.id)}/stream`);
    ws.binaryType = "arraybuffer";
    const c = { kind: "ws", ws, closed: false };
    c.close = () => {
      c.closed = true;
      ws.close(1000);
    };
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => { ws.close(); reject(new Error("the WebSocket did not open")); }, CONNECT_TIMEOUT_MS);
      ws.onopen = () => { clearTimeout(t); resolve(); };
      ws.onerror = () => { clearTimeout(t); reject(new Error("the WebSocket did not open")); };
    });
    ws.onerror = null;
    ws.send(JSON.stringify({ type: "start", sample_rate: this.sampleRate }));
    ws.onmessage = (e) => { if (typeof e.data === "string") this.deliver(e.data); };
    ws.onclose = () => { if (!c.closed && this.current === c) this.lost(c); };
    this.current = c;
    this.taps.setSend(true);
    this.onState("live", { transport: "ws" });
  }

  deliver(text) {
    let ev;
    try {
      ev = JSON.parse(text);
    } catch {
      return;
    }
    this.onEvent(ev);
    if (ev.type === "summary") this.finish();
  }

  // lost reconnects to the same session until the server's window closes.
  async lost(c) {
    c.close();
    this.current = null;
    this.taps.setSend(false);
    if (this.stopping || this.ended) {
      this.finish();
      return;
    }
    this.lostAt = performance.now();
    let wait = 500;
    while (!this.ended && performance.now() - this.lostAt < RECONNECT_WINDOW_MS) {
      this.onState("reconnecting", { transport: this.mode === "ws" ? "ws" : "webrtc" });
      this.wake = new AbortController();
      await delay(wait, this.wake.signal);
      wait = Math.min(wait * 2, 4000);
      if (this.ended) return;
      try {
        await this.connectOnce(false);
        return;
      } catch (err) {
        if (err instanceof EndedError) break;
        console.warn("cuecard: reconnect failed", err);
        if (await sessionEnded(this.id)) break;
      }
    }
    this.finish();
  }

  // stop asks the server to end the session; the summary arrives as the
  // last event and ends the link. It resolves when the link has ended.
  async stop() {
    if (this.ended) return;
    this.stopping = true;
    const c = this.current;
    const msg = JSON.stringify({ type: "stop" });
    let sent = false;
    try {
      if (c?.kind === "webrtc" && c.dc.readyState === "open") { c.dc.send(msg); sent = true; }
      if (c?.kind === "ws" && c.ws.readyState === WebSocket.OPEN) { c.ws.send(msg); sent = true; }
    } catch { /* closed meanwhile */ }
    if (!sent) {
      this.finish();
      return;
    }
    await new Promise((resolve) => {
      this.onFinish = resolve;
      setTimeout(resolve, STOP_TIMEOUT_MS);
    });
    this.finish();
  }

  // finish closes the link for good and reports "ended".
  finish() {
    if (this.ended) return;
    this.ended = true;
    this.wake?.abort();
    window.removeEventListener("online", this.online);
    this.current?.close();
    this.current = null;
    this.taps.setSend(false);
    this.onState("ended", {});
    this.onFinish?.();
  }
}

// sessionEnded reports whether the server says the session is over; an
// unreachable server says nothing.
async function sessionEnded(id) {
  try {
    return (await fetchSession(id)).status === "ended";
  } catch {
    return false;
  }
}

// gathered resolves when ICE gathering is complete (the offer is not
// trickled) or after ms with the candidates so far.
function gathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

// opened resolves when the data channel is open (so ICE and DTLS are up).
function opened(pc, dc, ms) {
  if (dc.readyState === "open") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => fail(new Error("WebRTC did not connect")), ms);
    function fail(err) {
      clearTimeout(t);
      reject(err);
    }
    dc.addEventListener("open", () => { clearTimeout(t); resolve(); }, { once: true });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") fail(new Error("WebRTC connection failed"));
    });
  });
}
