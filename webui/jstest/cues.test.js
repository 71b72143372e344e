// The cue queue's rules: one card at a time, priority, replacement after
// CUE_REPLACE_MS, expiry after CUE_TTL_MS, stale waiting cues, outcomes
// and second opinions. Run with `node --test`.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CUE_REPLACE_MS, CUE_TTL_MS, CueQueue, PENDING_STALE_MS, TAKEN_LINGER_MS, outcomeText } from "../static/js/cues.js";

// FakeClock is a manual clock with timers that run when it is advanced.
class FakeClock {
  t = 0;
  #timers = new Map(); // id -> {at, fn}
  #next = 1;

  now = () => this.t;

  setTimeout = (fn, ms) => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.t + ms, fn });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  // advance moves time on by ms, running due timers in time order.
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let due = null;
      for (const [id, tm] of this.#timers) {
        if (tm.at <= end && (!due || tm.at < due[1].at)) due = [id, tm];
      }
      if (!due) break;
      this.#timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }

  get pending() {
    return this.#timers.size;
  }
}

// view records what the queue asks the page to do.
function recorder() {
  const log = [];
  const view = {
    card: null, // id of the cue on the card
    state: "empty",
    left: [], // [id, why] in the order cues went to the history
    show(ev) { view.card = ev.id; view.state = "shown"; log.push(`show ${ev.id}`); },
    taken(ev) { view.state = "taken"; log.push(`taken ${ev.id}`); },
    revised(ev, verdict) { log.push(`revised ${ev.id} ${verdict} ${ev.body}`); },
    empty() { view.card = null; view.state = "empty"; log.push("empty"); },
    history(rec) { view.left.push([rec.ev.id, rec.why]); log.push(`history ${rec.ev.id} ${rec.why} (${outcomeText(rec)})`); },
    outcome(rec) { log.push(`outcome ${rec.ev.id} ${outcomeText(rec)}`); },
  };
  return { view, log };
}

function setUp() {
  const clock = new FakeClock();
  const { view, log } = recorder();
  const q = new CueQueue(view, clock);
  return { clock, view, log, q };
}

const cue = (id, priority) => ({ type: "cue", id, cue: `cue_${id}`, title: `Cue ${id}`, priority, at_ms: 1000 });

describe("one card at a time", () => {
  test("the first cue shows at once", () => {
    const { q, view } = setUp();
    q.add(cue("c1", 2));
    assert.equal(view.card, "c1");
    assert.equal(q.shown.id, "c1");
    assert.deepEqual(view.left, []);
  });

  test("a cue delivered again after a reconnect is ignored", () => {
    const { q, log } = setUp();
    q.add(cue("c1", 2));
    q.add(cue("c1", 2));
    assert.deepEqual(log, ["show c1"]);
  });
});

describe("priority", () => {
  for (const [name, shown, next] of [
    ["a more urgent cue replaces the shown one", 2, 1],
    ["an equally urgent cue replaces the shown one", 2, 2],
    ["a cue without priority replaces one without priority", undefined, undefined],
  ]) {
    test(name, () => {
      const { q, view, clock } = setUp();
      q.add(cue("c1", shown));
      clock.advance(1000);
      q.add(cue("c2", next));
      assert.equal(view.card, "c2");
      assert.deepEqual(view.left, [["c1", "replaced"]]);
    });
  }

  for (const [name, shown, next] of [
    ["a less urgent cue waits", 1, 2],
    ["a cue without priority waits behind one with", 3, undefined],
  ]) {
    test(name, () => {
      const { q, view, clock } = setUp();
      q.add(cue("c1", shown));
      clock.advance(1000);
      q.add(cue("c2", next));
      assert.equal(view.card, "c1");
      assert.deepEqual(q.waiting, ["c2"]);
      assert.deepEqual(view.left, []);
    });
  }

  test("waiting cues show most urgent first, equals in arrival order", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 1));
    q.add(cue("c2", 3));
    q.add(cue("c3", 2));
    q.add(cue("c4", 3));
    q.add(cue("c5", 2));
    assert.deepEqual(q.waiting, ["c3", "c5", "c2", "c4"]);
    const order = [];
    while (view.card) {
      order.push(view.card);
      clock.advance(1000);
      q.dismiss();
    }
    assert.deepEqual(order, ["c1", "c3", "c5", "c2", "c4"]);
  });
});

describe(`replacement after ${CUE_REPLACE_MS} ms`, () => {
  test("a less urgent cue waits while the shown one is fresh", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 1));
    clock.advance(CUE_REPLACE_MS);
    q.add(cue("c2", 3));
    assert.equal(view.card, "c1");
  });

  test("a less urgent cue replaces a card that has had its moment", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 1));
    clock.advance(CUE_REPLACE_MS + 1);
    q.add(cue("c2", 3));
    assert.equal(view.card, "c2");
    assert.deepEqual(view.left, [["c1", "replaced"]]);
  });

  test("a replacement leaves the waiting cues waiting", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 1));
    clock.advance(1000);
    q.add(cue("c2", 2)); // waits behind c1
    clock.advance(CUE_REPLACE_MS);
    q.add(cue("c3", 3)); // c1 has had its moment
    assert.equal(view.card, "c3");
    assert.deepEqual(view.left, [["c1", "replaced"]]);
    assert.deepEqual(q.waiting, ["c2"]);
    clock.advance(1000);
    q.dismiss();
    assert.equal(view.card, "c2", "the waiting cue is not lost");
  });

  test("the replacement's age counts from when it showed", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 1));
    clock.advance(CUE_REPLACE_MS + 1);
    q.add(cue("c2", 2));
    clock.advance(1000);
    q.add(cue("c3", 3)); // c2 is fresh: c3 waits although c1 showed long ago
    assert.equal(view.card, "c2");
    assert.deepEqual(q.waiting, ["c3"]);
  });
});

describe(`expiry after ${CUE_TTL_MS} ms`, () => {
  test("a card leaves by itself", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 2));
    clock.advance(CUE_TTL_MS - 1);
    assert.equal(view.card, "c1");
    clock.advance(1);
    assert.equal(view.card, null);
    assert.equal(view.state, "empty");
    assert.deepEqual(view.left, [["c1", "expired"]]);
    assert.equal(clock.pending, 0);
  });

  test("a replaced card does not expire its successor early", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 2));
    clock.advance(10000);
    q.add(cue("c2", 2));
    clock.advance(CUE_TTL_MS - 1);
    assert.equal(view.card, "c2");
    clock.advance(1);
    assert.deepEqual(view.left, [["c1", "replaced"], ["c2", "expired"]]);
  });

  test(`a cue that waited less than ${PENDING_STALE_MS} ms shows when the card leaves`, () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 1));
    clock.advance(1000);
    q.add(cue("c2", 2));
    clock.advance(PENDING_STALE_MS - 1001);
    q.dismiss();
    assert.equal(view.card, "c2");
  });

  test("a cue that waited too long is skipped into the history", () => {
    const { q, view, clock } = setUp();
    q.add(cue("c1", 1));
    clock.advance(1000);
    q.add(cue("c2", 2));
    clock.advance(CUE_TTL_MS - 1000); // c1 expires; c2 has waited 44 s
    assert.equal(view.card, null);
    assert.deepEqual(view.left, [["c1", "expired"], ["c2", "skipped"]]);
  });
});

describe("outcomes", () => {
  test(`a taken card shows done for ${TAKEN_LINGER_MS} ms, then leaves`, () => {
    const { q, view, clock, log } = setUp();
    q.add(cue("c1", 2));
    clock.advance(5000);
    q.outcome({ type: "cue_outcome", id: "c1", taken: true });
    assert.equal(view.state, "taken");
    clock.advance(TAKEN_LINGER_MS - 1);
    assert.equal(view.card, "c1");
    clock.advance(1);
    assert.equal(view.card, null);
    assert.deepEqual(view.left, [["c1", "taken"]]);
    assert.ok(log.includes("outcome c1 ✓ taken"));
    assert.equal(clock.pending, 0, "the expiry timer is gone");
  });

  test("a missed card leaves at once and the next one shows", () => {
    const { q, view } = setUp();
    q.add(cue("c1", 1));
    q.add(cue("c2", 2));
    q.outcome({ type: "cue_outcome", id: "c1", taken: false });
    assert.equal(view.card, "c2");
    assert.deepEqual(view.left, [["c1", "missed"]]);
  });

  test("a waiting cue that already has an outcome is skipped", () => {
    const { q, view, log } = setUp();
    q.add(cue("c1", 1));
    q.add(cue("c2", 2));
    q.outcome({ type: "cue_outcome", id: "c2", taken: true });
    assert.equal(view.card, "c1");
    q.dismiss();
    assert.equal(view.card, null);
    assert.deepEqual(view.left, [["c1", "dismissed"], ["c2", "skipped"]]);
    assert.ok(log.includes("history c2 skipped (✓ taken)"), "the history says it was taken");
  });

  test("an outcome of an unknown cue is ignored", () => {
    const { q, log } = setUp();
    q.outcome({ type: "cue_outcome", id: "zz", taken: true });
    assert.deepEqual(log, []);
  });
});

describe("dismiss", () => {
  test("dismiss takes the card into the history and says so", () => {
    const { q, view } = setUp();
    assert.equal(q.dismiss(), false);
    q.add(cue("c1", 2));
    assert.equal(q.dismiss(), true);
    assert.equal(view.card, null);
    assert.deepEqual(view.left, [["c1", "dismissed"]]);
  });
});

describe("second opinions", () => {
  test("a refined card gets the better words", () => {
    const { q, log } = setUp();
    q.add(cue("c1", 2));
    q.update({ type: "cue_update", id: "c1", verdict: "refined", body: "better words" });
    assert.ok(log.includes("revised c1 refined better words"));
  });

  test("a confirmed card is marked", () => {
    const { q, log } = setUp();
    q.add(cue("c1", 2));
    q.update({ type: "cue_update", id: "c1", verdict: "confirmed" });
    assert.ok(log.includes("revised c1 confirmed undefined"));
  });

  test("a withdrawn card leaves and the history says so", () => {
    const { q, view, log } = setUp();
    q.add(cue("c1", 1));
    q.add(cue("c2", 2));
    q.update({ type: "cue_update", id: "c1", verdict: "withdrawn" });
    assert.equal(view.card, "c2");
    assert.deepEqual(view.left, [["c1", "withdrawn"]]);
    assert.ok(log.includes("outcome c1 withdrawn on second thought"));
  });

  test("a withdrawn waiting cue never shows", () => {
    const { q, view } = setUp();
    q.add(cue("c1", 1));
    q.add(cue("c2", 2));
    q.update({ type: "cue_update", id: "c2", verdict: "withdrawn" });
    assert.deepEqual(q.waiting, []);
    q.dismiss();
    assert.equal(view.card, null);
  });

  test("a withdrawal does not hide an outcome", () => {
    const { q, log } = setUp();
    q.add(cue("c1", 2));
    q.outcome({ type: "cue_outcome", id: "c1", taken: false });
    q.update({ type: "cue_update", id: "c1", verdict: "withdrawn" });
    assert.equal(log.at(-1), "outcome c1 ✕ missed");
  });
});

test("outcomeText", () => {
  for (const [rec, want] of [
    [{ outcome: "taken", why: "taken" }, "✓ taken"],
    [{ outcome: "missed", why: "missed" }, "✕ missed"],
    [{ outcome: "withdrawn", why: "withdrawn" }, "withdrawn on second thought"],
    [{ outcome: "", why: "dismissed" }, "dismissed"],
    [{ outcome: "", why: "expired" }, "open"],
    [{ outcome: "", why: "replaced" }, "open"],
  ]) {
    assert.equal(outcomeText(rec), want, JSON.stringify(rec));
  }
});
