// The set-up before the call: the rep's microphone and where the other
// side's audio comes from (the call's tab, an input device, or in test
// mode an audio file).

import { ShareError, listInputs, openMic, shareTab } from "./capture.js";
import { $, showAlert } from "./dom.js";

// Setup owns the set-up form's choices. prospect is the other side's
// source once chosen: {kind: "tab"|"device"|"test", stream?, deviceId?, url?}.
export class Setup {
  prospect = null;
  #live;

  // live tells whether a call is under way (sharing that stops then is a
  // warning, not a new choice).
  constructor(live) {
    this.#live = live;
    $("#mic-allow").addEventListener("click", () => this.#allowMic());
    $("#share").addEventListener("click", () => this.#share());
    for (const r of document.querySelectorAll('input[name="prospect-src"]')) r.addEventListener("change", () => this.#kind());
    $("#prospect-dev").addEventListener("change", () => {
      this.prospect = { kind: "device", deviceId: $("#prospect-dev").value };
      this.#state(true, "The call's audio input is selected.");
    });
  }

  // ready reports whether the other side's source is chosen.
  get ready() {
    const p = this.prospect;
    return !!p && (p.kind !== "device" || !!p.deviceId);
  }

  // useTestAudio plays the other side from url (a server with test hooks).
  useTestAudio(url) {
    this.prospect = { kind: "test", url };
    $("#prospect-choice").hidden = true;
    $("#prospect-tab").hidden = true;
    this.#testNote(`Test mode: the other side is played from ${url}.`);
    this.#state(true, "Test audio ready.");
  }

  // refuseTestAudio says that this server plays no test audio.
  refuseTestAudio() {
    this.#testNote("This server does not allow test audio; share the call tab instead.");
  }

  // error shows msg under the form, or hides it when msg is empty.
  error(msg) {
    const el = $("#setup-error");
    el.textContent = msg;
    el.hidden = !msg;
  }

  // fillMics lists the audio inputs for the microphone and the call.
  async fillMics() {
    const sel = $("#mic");
    const devs = await listInputs().catch(() => []);
    const keep = sel.value;
    sel.replaceChildren(new Option("Default microphone", ""));
    let labelled = false;
    devs.forEach((d, i) => {
      if (d.deviceId === "default" || d.deviceId === "") return;
      labelled ||= d.label !== "";
      sel.append(new Option(d.label || `Microphone ${i + 1}`, d.deviceId));
    });
    sel.value = keep;
    $("#mic-allow").hidden = labelled;
    const pd = $("#prospect-dev");
    pd.replaceChildren(new Option("Choose the input that carries the call…", ""));
    devs.forEach((d, i) => {
      if (d.deviceId === "default" || d.deviceId === "") return;
      pd.append(new Option(d.label || `Input ${i + 1}`, d.deviceId));
    });
  }

  #testNote(text) {
    const el = $("#test-mode");
    el.hidden = false;
    el.textContent = text;
  }

  async #allowMic() {
    try {
      const s = await openMic("");
      for (const t of s.getTracks()) t.stop();
      await this.fillMics();
      this.error("");
    } catch (err) {
      this.error(`The microphone is not available: ${err.message}`);
    }
  }

  #kind() {
    const kind = $('input[name="prospect-src"]:checked').value;
    $("#prospect-tab").hidden = kind !== "tab";
    $("#prospect-device").hidden = kind !== "device";
    this.#stopShared();
    this.prospect = null;
    this.#state(false, kind === "tab" ? "Not shared yet." : "Choose the input that carries the call.");
    if (kind === "device") this.fillMics();
  }

  async #share() {
    try {
      this.#stopShared();
      const stream = await shareTab();
      this.prospect = { kind: "tab", stream };
      const track = stream.getAudioTracks()[0];
      track.addEventListener("ended", () => this.#shareEnded());
      this.#state(true, `Sharing the tab's audio${track.label ? ` (${track.label})` : ""}.`);
      $("#share").textContent = "Share a different tab…";
      this.error("");
    } catch (err) {
      this.prospect = null;
      const msg = err instanceof ShareError ? err.message
        : err.name === "NotAllowedError" ? "Sharing was cancelled. Share the call tab to let cuecard hear the other side."
          : `Sharing failed: ${err.message}`;
      this.#state(false, "Not shared.");
      this.error(msg);
    }
  }

  #shareEnded() {
    if (this.#live()) {
      showAlert("#status", "bad", "Tab sharing stopped: cuecard no longer hears the other side.");
    } else {
      this.prospect = null;
      this.#state(false, "Sharing stopped. Share the call tab again.");
    }
  }

  #stopShared() {
    for (const t of this.prospect?.stream?.getTracks() || []) t.stop();
  }

  #state(ok, text) {
    const el = $("#prospect-state");
    el.dataset.ok = String(ok);
    el.textContent = text;
  }
}
