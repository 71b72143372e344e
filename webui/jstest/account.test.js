// The account pages' pure helpers. Run with `node --test`.

import assert from "node:assert/strict";
import { test } from "node:test";

import { auditLines, canEditComment, canErase, safeNext, scopesValue, sessionError, signInURL } from "../static/account/next.js";

test("safeNext keeps same-origin paths", () => {
  assert.equal(safeNext("/sessions"), "/sessions");
  assert.equal(safeNext("/sessions/abc?x=1#c"), "/sessions/abc?x=1#c");
  assert.equal(safeNext("/admin"), "/admin");
});

test("safeNext refuses other origins and tricks", () => {
  for (const bad of ["", null, undefined, "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil",
    "javascript:alert(1)", "evil.example", "/\tx", "/a\\b", "http:/evil", "/signin", "/signin?next=/", "/setup?token=x"]) {
    assert.equal(safeNext(bad), "/", String(bad));
  }
  assert.equal(safeNext("//x", "/sessions"), "/sessions");
});

test("signInURL", () => {
  assert.equal(signInURL("/sessions?rep=Ana"), "/signin?next=%2Fsessions%3Frep%3DAna");
  assert.equal(signInURL("/"), "/signin");
  assert.equal(signInURL("https://evil.example"), "/signin");
});

test("canEditComment and canErase", () => {
  const rep = { id: "u1", role: "rep" }, admin = { id: "a", role: "admin" }, coach = { id: "c", role: "coach" };
  assert.equal(canEditComment(rep, { author_id: "u1" }), true);
  assert.equal(canEditComment(coach, { author_id: "u1" }), false);
  assert.equal(canEditComment(admin, { author_id: "u1" }), true);
  assert.equal(canEditComment(rep, { author_id: "" }), false);
  assert.equal(canEditComment(null, { author_id: "u1" }), false);
  assert.equal(canErase(rep, { owner: "u1" }), true);
  assert.equal(canErase(coach, { owner: "u1" }), false);
  assert.equal(canErase(admin, { owner: "x" }), true);
  assert.equal(canErase(rep, {}), false);
});

test("scopesValue", () => {
  assert.equal(scopesValue(["stream", "read", "read", " "]), "read,stream");
  assert.equal(scopesValue([]), "");
});

test("auditLines", () => {
  const got = auditLines('{"seq":1,"action":"signin"}\n\n{broken\n{"seq":2,"action":"user.create"}\n');
  assert.deepEqual(got.map((e) => e.seq), [1, 2]);
});

test("sessionError says what to do", () => {
  assert.match(sessionError(401, ""), /Sign in again/);
  assert.match(sessionError(409, "no consent"), /consent/);
  assert.match(sessionError(429, "too many"), /Too many/);
  assert.match(sessionError(400, "bad"), /refused the call: bad/);
});
