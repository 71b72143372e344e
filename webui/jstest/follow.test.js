// Following phone calls. Run with `node --test`.

import assert from "node:assert/strict";
import { test } from "node:test";

import { LiveFeed, Viewer, parseNotice, shouldFollow, sourceName, wsURL } from "../static/js/follow.js";

test("parseNotice", () => {
  assert.deepEqual(parseNotice('{"type":"live","session_id":"s1","source":"twilio","title":"Twilio call CA1"}'),
    { id: "s1", source: "twilio", title: "Twilio call CA1" });
  for (const bad of ["", "not json", "null", '{"type":"cue","session_id":"s1"}', '{"type":"live"}', '{"type":"live","session_id":7}']) {
    assert.equal(parseNotice(bad), null, bad);
  }
});

test("shouldFollow", () => {
  const n = { id: "s2", source: "twilio" };
  for (const [name, state, want] of [
    ["waiting at set-up", { phase: "setup", session: null, followed: null }, true],
    ["after a call ended", { phase: "ended", session: "s1", followed: null }, true],
    ["during the rep's own call", { phase: "live", session: "s1", followed: null }, false],
    ["already following it", { phase: "live", session: null, followed: "s2" }, false],
    ["following another call", { phase: "live", session: null, followed: "s3" }, false],
    ["its own session", { phase: "ended", session: "s2", followed: null }, false],
  ]) {
    assert.equal(shouldFollow(state, n), want, name);
  }
  assert.equal(shouldFollow({ phase: "setup" }, null), false);
});

test("sourceName and wsURL", () => {
  assert.equal(sourceName("telnyx"), "Telnyx");
  assert.equal(sourceName("other"), "a dialer");
  assert.equal(wsURL("/v1/me/live", { protocol: "https:", host: "c.example.com" }), "wss://c.example.com/v1/me/live");
  assert.equal(wsURL("/x", { protocol: "http:", host: "127.0.0.1:8080" }), "ws://127.0.0.1:8080/x");
});

// FakeWS records the sockets a test's code opens.
function fakeWS() {
  const opened = [];
  class WS {
    constructor(url) { this.url = url; this.closed = false; opened.push(this); }
    close() { this.closed = true; this.onclose?.({ reason: "" }); }
  }
  return { WS, opened };
}

test("LiveFeed announces and reconnects with backoff", () => {
  const { WS, opened } = fakeWS();
  const timers = [];
  const got = [];
  const feed = new LiveFeed({ onNotice: (n) => got.push(n.id), WS, url: "ws://x/v1/me/live", setTimer: (f, d) => timers.push([f, d]), maxDelay: 1500 });
  feed.start();
  opened[0].onopen();
  opened[0].onmessage({ data: '{"type":"live","session_id":"a","source":"twilio"}' });
  opened[0].onmessage({ data: '{"type":"ping"}' });
  assert.deepEqual(got, ["a"]);
  opened[0].onclose({});
  assert.equal(timers.length, 1);
  assert.equal(timers[0][1], 500);
  timers[0][0]();
  assert.equal(opened.length, 2);
  opened[1].onclose({});
  timers[1][0]();
  opened[2].onclose({});
  assert.deepEqual(timers.map((t) => t[1]), [500, 1000, 1500]);
  feed.close();
  assert.equal(timers.length, 3, "no reconnect after close");
});

test("Viewer passes events and ends once", () => {
  const { WS, opened } = fakeWS();
  const evs = [];
  let ends = 0;
  const v = new Viewer({ id: "s 1", WS, onEvent: (e) => evs.push(e.type), onEnd: () => ends++, loc: { protocol: "http:", host: "h" } });
  assert.equal(opened[0].url.endsWith("/v1/sessions/s%201/events"), true);
  opened[0].onmessage({ data: '{"type":"cue","at_ms":1}' });
  opened[0].onmessage({ data: "garbage" });
  opened[0].onmessage({ data: '{"type":"summary","at_ms":2}' });
  v.close();
  opened[0].onclose({ reason: "again" });
  assert.deepEqual(evs, ["cue", "summary"]);
  assert.equal(ends, 1);
});
