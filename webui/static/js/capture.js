// Audio capture: the rep's microphone, the call's tab (or an input
// device, or in test mode an audio file), and a tap per side that measures
// levels and, for the WebSocket fallback, cuts 20 ms PCM frames.

export const SIDES = ["rep", "prospect"];

// micConstraints asks for the browser's voice processing: the rep's own
// speakers must not leak the prospect into the rep's side.
function micConstraints(deviceId) {
  const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
  if (deviceId) audio.deviceId = { exact: deviceId };
  return { audio, video: false };
}

// openMic opens the rep's microphone; it rejects if the user refuses.
export async function openMic(deviceId) {
  return navigator.mediaDevices.getUserMedia(micConstraints(deviceId));
}

// openInput opens an input that carries the call (a loopback or monitor
// device), untouched: no echo cancellation, it is the far end.
export async function openInput(deviceId) {
  const audio = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
  if (deviceId) audio.deviceId = { exact: deviceId };
  return navigator.mediaDevices.getUserMedia({ audio, video: false });
}

// listInputs returns the audio inputs; labels are empty until the page
// has been allowed to use a microphone once.
export async function listInputs() {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devs = await navigator.mediaDevices.enumerateDevices();
  return devs.filter((d) => d.kind === "audioinput");
}

// ShareError says why sharing the call tab gave no usable audio.
export class ShareError extends Error {}

// shareTab asks the user to share the call's tab with its audio and
// returns a stream with only the audio track (the video is stopped: the
// server needs none). It throws ShareError when no audio was shared.
export async function shareTab() {
  if (!navigator.mediaDevices?.getDisplayMedia) {
    throw new ShareError("This browser cannot share a tab. Use Chrome or Edge, or pick an audio input that carries the call.");
  }
  const stream = await navigator.mediaDevices.getDisplayMedia({
    video: true,
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, suppressLocalAudioPlayback: false },
    preferCurrentTab: false,
    selfBrowserSurface: "exclude",
    surfaceSwitching: "include",
    systemAudio: "include",
  });
  for (const t of stream.getVideoTracks()) {
    t.stop();
    stream.removeTrack(t);
  }
  if (stream.getAudioTracks().length === 0) {
    throw new ShareError("The shared tab has no audio. Share again, pick the call's tab and keep “Also share tab audio” on (Firefox cannot share tab audio: pick an audio input instead).");
  }
  return stream;
}

// testSource plays an audio file and captures it as the prospect's side.
// The overlay offers it only when the server has test hooks on. The file
// starts playing when play() is called.
export async function testSource(url) {
  const el = new Audio();
  el.preload = "auto";
  el.src = url;
  el.loop = false;
  await new Promise((resolve, reject) => {
    el.addEventListener("canplaythrough", resolve, { once: true });
    el.addEventListener("error", () => reject(new Error(`test audio ${url}: cannot load`)), { once: true });
    el.load();
  });
  const capture = el.captureStream ? el.captureStream.bind(el) : el.mozCaptureStream?.bind(el);
  if (!capture) throw new Error("this browser cannot capture an audio element");
  const stream = capture();
  if (stream.getAudioTracks().length === 0) {
    await new Promise((resolve) => stream.addEventListener("addtrack", resolve, { once: true }));
  }
  return { stream, element: el, play: () => el.play() };
}

// Taps runs one "cuecard-tap" worklet per side on ctx.
export class Taps {
  constructor(ctx) {
    this.ctx = ctx;
    this.nodes = new Map();
    this.sink = ctx.createGain();
    this.sink.gain.value = 0; // pulls the taps; plays nothing
    this.sink.connect(ctx.destination);
  }

  static async create(ctx) {
    await ctx.audioWorklet.addModule(new URL("./worklet.js", import.meta.url));
    return new Taps(ctx);
  }

  // add taps stream as side; onLevel(side, rms, peak) and onPCM(side,
  // ArrayBuffer) are called on the main thread.
  add(side, stream, onLevel, onPCM) {
    const src = this.ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(this.ctx, "cuecard-tap", { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
    node.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === "level") onLevel(side, m.rms, m.peak);
      else if (m.type === "pcm") onPCM(side, m.buf);
    };
    src.connect(node);
    node.connect(this.sink);
    this.nodes.set(side, { src, node });
  }

  // setSend turns 20 ms PCM frames on or off for every side.
  setSend(on) {
    for (const { node } of this.nodes.values()) node.port.postMessage({ send: on });
  }

  close() {
    for (const { src, node } of this.nodes.values()) {
      node.port.onmessage = null;
      src.disconnect();
      node.disconnect();
    }
    this.nodes.clear();
  }
}

// Hearing tells, per side, whether the side is heard, and whether one
// side has been silent for silenceMs while the other talked. Times are
// performance.now() milliseconds.
export class Hearing {
  constructor(now, { threshold = 0.006, silenceMs = 20000, otherTalkMs = 1500 } = {}) {
    this.threshold = threshold;
    this.silenceMs = silenceMs;
    this.otherTalkMs = otherTalkMs;
    this.start = now;
    this.side = {};
    for (const s of SIDES) this.side[s] = { lastVoice: -Infinity, voicedMs: 0, otherAtLastVoice: 0, lastBlock: now };
  }

  // level records one level report of side; it returns whether it was voice.
  level(side, rms, now) {
    const st = this.side[side];
    const dt = Math.min(200, Math.max(0, now - st.lastBlock));
    st.lastBlock = now;
    if (rms < this.threshold) return false;
    st.voicedMs += dt;
    st.lastVoice = now;
    const other = this.side[side === "rep" ? "prospect" : "rep"];
    st.otherAtLastVoice = other.voicedMs;
    return true;
  }

  // heard reports whether side was heard within the last 2 s.
  heard(side, now) {
    return now - this.side[side].lastVoice < 2000;
  }

  // silent reports whether side has been silent for silenceMs (since its
  // last voice, or the start) while the other side talked.
  silent(side, now) {
    const st = this.side[side];
    const other = this.side[side === "rep" ? "prospect" : "rep"];
    const since = Math.max(st.lastVoice, this.start);
    return now - since >= this.silenceMs && other.voicedMs - st.otherAtLastVoice >= this.otherTalkMs;
  }
}
