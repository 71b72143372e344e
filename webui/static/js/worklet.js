// AudioWorklet processor "cuecard-tap": one per side. It runs on the audio
// thread, which browsers do not throttle in background tabs, and posts
//   {type: "level", rms, peak}  every 50 ms, for the meters and the
//                               silence warning;
//   {type: "pcm", buf}          20 ms of little-endian int16 mono PCM at the
//                               context's rate, only while "send" is on (the
//                               WebSocket fallback).
// The main thread switches sending with port.postMessage({send: bool}).

class Tap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.send = false;
    this.frameLen = Math.round(sampleRate / 50); // 20 ms
    this.frame = new Int16Array(this.frameLen);
    this.fill = 0;
    this.levelLen = Math.round(sampleRate / 20); // 50 ms
    this.levelN = 0;
    this.sumSq = 0;
    this.peak = 0;
    this.port.onmessage = (e) => {
      if (typeof e.data?.send === "boolean") {
        this.send = e.data.send;
        this.fill = 0;
      }
    };
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) {
      return true; // no input connected yet (or the track ended): keep going
    }
    const n = input[0].length;
    const chans = input.length;
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let c = 0; c < chans; c++) v += input[c][i];
      v /= chans;
      const a = Math.abs(v);
      this.sumSq += v * v;
      if (a > this.peak) this.peak = a;
      if (++this.levelN === this.levelLen) {
        this.port.postMessage({ type: "level", rms: Math.sqrt(this.sumSq / this.levelN), peak: this.peak });
        this.levelN = 0;
        this.sumSq = 0;
        this.peak = 0;
      }
      if (this.send) {
        const s = Math.max(-1, Math.min(1, v));
        this.frame[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
        if (this.fill === this.frameLen) {
          const buf = this.frame.buffer;
          this.port.postMessage({ type: "pcm", buf }, [buf]);
          this.frame = new Int16Array(this.frameLen);
          this.fill = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("cuecard-tap", Tap);
