// The cue queue: which cue card the rep sees. One card at a time; a new
// cue replaces the shown one when it is at least as urgent (priority 1 is
// the most urgent) or the shown one has had its moment (CUE_REPLACE_MS);
// otherwise it waits, most urgent first. A card leaves by itself after
// CUE_TTL_MS; then the next waiting cue shows unless it has gone stale or
// already has an outcome.
//
// The queue knows nothing of the page: it tells a view what to show, and
// takes its clock and timers as arguments so that the rules can be tested
// without a browser.

export const CUE_TTL_MS = 45000; // a card leaves by itself after this long
export const CUE_REPLACE_MS = 8000; // a less urgent cue waits this long behind the shown one
export const PENDING_STALE_MS = 20000; // a waiting cue older than this is history
export const TAKEN_LINGER_MS = 2500; // "done" stays this long on a taken card

// priority is a cue's urgency; a cue without one is the least urgent.
const priority = (ev) => ev.priority || 9;

// systemClock is the browser's: performance.now and its timers.
const systemClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t),
};

// CueQueue applies cue, cue_outcome and cue_update events. view receives:
//   show(ev)            the card shows ev
//   taken(ev)           the shown card was acted on; it lingers, marked done
//   revised(ev, verdict) the shown card was confirmed or refined (ev.body)
//   empty()             no card
//   history(rec)        a card left, or a waiting cue was skipped:
//                       rec is {ev, outcome, why, verdict}
//   outcome(rec)        rec's outcome or verdict changed
export class CueQueue {
  #view;
  #clock;
  #cues = new Map(); // id -> rec
  #current = null; // {ev, shownAt, timer}
  #pending = []; // {ev, at}, most urgent first

  constructor(view, clock = systemClock) {
    this.#view = view;
    this.#clock = clock;
  }

  // shown is the cue on the card, or null.
  get shown() {
    return this.#current?.ev ?? null;
  }

  // waiting lists the ids of the cues that wait, in the order they would show.
  get waiting() {
    return this.#pending.map((p) => p.ev.id);
  }

  // add takes a new cue; one delivered again (after a reconnect) is ignored.
  add(ev) {
    if (this.#cues.has(ev.id)) return;
    this.#cues.set(ev.id, { ev, outcome: "", why: "", verdict: "" });
    const cur = this.#current;
    const now = this.#clock.now();
    if (!cur || priority(ev) <= priority(cur.ev) || now - cur.shownAt > CUE_REPLACE_MS) {
      if (cur) this.#retire("replaced");
      this.#show(ev);
      return;
    }
    this.#pending.push({ ev, at: now });
    this.#pending.sort((a, b) => priority(a.ev) - priority(b.ev)); // stable: equals keep their order
  }

  // outcome applies a cue_outcome: a taken card lingers marked done, a
  // missed one leaves.
  outcome(ev) {
    const rec = this.#cues.get(ev.id);
    if (!rec) return;
    rec.outcome = ev.taken ? "taken" : "missed";
    this.#view.outcome(rec);
    const cur = this.#current;
    if (cur?.ev.id !== ev.id) return;
    if (!ev.taken) {
      this.#leave("missed");
      return;
    }
    this.#view.taken(cur.ev);
    this.#clock.clearTimeout(cur.timer);
    cur.timer = this.#clock.setTimeout(() => this.#leave("taken"), TAKEN_LINGER_MS);
  }

  // update applies a second opinion on a cue (cue_update): a refined card
  // gets the better words, a withdrawn one leaves (or stops waiting), a
  // confirmed one is marked.
  update(ev) {
    const rec = this.#cues.get(ev.id);
    if (!rec) return;
    rec.verdict = ev.verdict;
    const shown = this.#current?.ev.id === ev.id;
    if (ev.verdict === "refined" && ev.body) rec.ev.body = ev.body;
    if (ev.verdict === "withdrawn") {
      rec.outcome ||= "withdrawn";
      if (shown) this.#leave("withdrawn");
      else this.#pending = this.#pending.filter((p) => p.ev.id !== ev.id);
    } else if (shown) {
      this.#view.revised(rec.ev, ev.verdict);
    }
    this.#view.outcome(rec);
  }

  // dismiss takes the shown card away; it reports whether there was one.
  dismiss() {
    if (!this.#current) return false;
    this.#leave("dismissed");
    return true;
  }

  #show(ev) {
    const timer = this.#clock.setTimeout(() => this.#leave("expired"), CUE_TTL_MS);
    this.#current = { ev, shownAt: this.#clock.now(), timer };
    this.#view.show(ev);
  }

  // retire takes the shown card into the history.
  #retire(why) {
    const cur = this.#current;
    this.#clock.clearTimeout(cur.timer);
    this.#current = null;
    this.#toHistory(cur.ev, why);
  }

  // leave retires the shown card and shows the next waiting one that is
  // still fresh and open; the others go to the history as skipped.
  #leave(why) {
    if (!this.#current) return;
    this.#retire(why);
    const now = this.#clock.now();
    while (this.#pending.length) {
      const next = this.#pending.shift();
      if (now - next.at < PENDING_STALE_MS && !this.#cues.get(next.ev.id).outcome) {
        this.#show(next.ev);
        return;
      }
      this.#toHistory(next.ev, "skipped");
    }
    this.#view.empty();
  }

  #toHistory(ev, why) {
    const rec = this.#cues.get(ev.id);
    rec.why = why;
    this.#view.history(rec);
  }
}

// outcomeText says in words what became of a cue in the history.
export function outcomeText(rec) {
  switch (rec.outcome) {
    case "taken": return "✓ taken";
    case "missed": return "✕ missed";
    case "withdrawn": return "withdrawn on second thought";
  }
  return rec.why === "dismissed" ? "dismissed" : "open";
}
