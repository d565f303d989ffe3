import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import {
  durationWords, fieldMessage, formatCallDate, formatCallTime, formatCount, formatDuration,
  formatPhone, formatRate, formatTick, jsonEntries, outcomeOf, problemWords,
} from "../../src/recent_calls/static/format.js";
import { countLines, csvCell, csvLine, csvRows } from "../../src/recent_calls/static/csv.js";
import { byName, directoryMaps, matches, namesOf } from "../../src/recent_calls/static/names.js";

// The page loads the vendored bundle as a classic script (a global); here it is read as one.
const libphonenumber = createRequire(import.meta.url)(
  "../../src/recent_calls/static/vendor/libphonenumber-min.js");

test("durations are h:mm:ss, or m:ss under an hour", () => {
  assert.equal(formatDuration("335566"), "5:36");
  assert.equal(formatDuration(3_725_000), "1:02:05");
  assert.equal(formatDuration("0.0"), "0:00");
  assert.equal(formatDuration(""), "");
  assert.equal(formatDuration("abc"), "");
  assert.equal(durationWords(3_725_000), "1 h 2 min 5 s");
  assert.equal(durationWords("0.0"), "0 s");
});

test("counts and rates carry the locale's separators", () => {
  assert.equal(formatCount(1234567, "en-US"), "1,234,567");
  assert.equal(formatCount(1234567, "de-DE"), "1.234.567");
  assert.equal(formatRate(0.0625, "en-US"), "6.3%");
  assert.equal(formatRate(null), "–");
});

test("call dates are read as the response's wall time and shown in the locale", () => {
  assert.equal(formatCallDate("03/10/2024 14:05:09", "en-US"), "Sun, 3/10/2024, 2:05:09 PM");
  assert.equal(formatCallDate("03/10/2024 14:05:09", "en-GB"), "Sun, 10/03/2024, 14:05:09");
  assert.equal(formatCallDate("garbage"), "garbage");
  assert.equal(formatTick(1710079200000, "America/New_York", "hour", "en-US"), "Sun 10:00");
  assert.equal(formatTick(1710079200000, "America/New_York", "day", "en-US"), "Sun, Mar 10");
});

test("phone numbers are formatted by their country; anything else is left as given", () => {
  assert.equal(formatPhone("4155550123"), "4155550123"); // the page's library not loaded: as given
  globalThis.libphonenumber = libphonenumber;
  try {
    assert.equal(formatPhone("4155550123"), "(415) 555-0123");
    assert.equal(formatPhone("+18005550100", "US"), "(800) 555-0100");
    assert.equal(formatPhone("16465556986", "US"), "(646) 555-6986");
    assert.equal(formatPhone("02079460794", "GB"), "020 7946 0794");
    assert.equal(formatPhone("07700900928", "GB"), "07700 900928");
    assert.equal(formatPhone("+442079460000", "GB"), "020 7946 0000");
    assert.equal(formatPhone("+442079460000", "US"), "+44 20 7946 0000");
    assert.equal(formatPhone("+16465554254", "GB"), "+1 646 555 4254");
    assert.equal(formatPhone("123", "US"), "123");
    assert.equal(formatPhone("Anonymous"), "Anonymous");
    assert.equal(formatPhone("sip:100@pbx"), "sip:100@pbx");
    assert.equal(formatPhone(""), "");
    assert.equal(formatPhone(null), "");
  } finally {
    delete globalThis.libphonenumber;
  }
});

test("JSON-in-string fields are laid out as labelled pairs", () => {
  assert.deepEqual(jsonEntries('[{"question":"Happy?","answer":5}]'), [["1 › question", "Happy?"], ["1 › answer", "5"]]);
  assert.deepEqual(jsonEntries("{}"), [["(empty)", ""]]);
  assert.equal(jsonEntries("not json"), null);
  assert.equal(jsonEntries("{broken"), null);
});

test("errors speak the field's words, not the wire format", () => {
  const text = fieldMessage("Transfers", "order");
  assert.match(text, /^Transfers:/);
  assert.doesNotMatch(text, /range:|-1/);
  assert.match(fieldMessage("Time zone", "zone"), /America\/New_York/);
  assert.match(problemWords(401), /sign in again/);
  assert.match(problemWords(403, "This credential lacks the 'read' scope that this endpoint needs"),
    /may only push calls.*read scope/);
  assert.match(problemWords(403, "These credentials may not access"), /access to that tenant/);
  assert.match(problemWords(503), /Try again/);
});

test("CSV cells are quoted and formula-safe", () => {
  assert.equal(csvCell("=SUM(A1)"), "'=SUM(A1)");
  assert.equal(csvCell("+1 555"), "'+1 555");
  assert.equal(csvCell("-2"), "'-2");
  assert.equal(csvCell("@x"), "'@x");
  assert.equal(csvCell("\tx"), "'\tx");
  assert.equal(csvCell('a "b", c'), '"a ""b"", c"');
  assert.equal(csvCell("\rx"), "\"'\rx\"");
  assert.equal(csvCell(null), "");
  assert.equal(csvLine(["a", 1, ""]), "a,1,\r\n");
  assert.equal(csvRows([{ a: "x", b: "=y" }], ["b", "a"]), "'=y,x\r\n");
  assert.equal(countLines(new TextEncoder().encode("h\r\na\r\nb\r\n")), 3);
});

test("names replace ids; pickers match either; unknown ids stay ids", () => {
  const maps = directoryMaps({ queues: [{ id: "2583", name: "Billing" }, { id: "9", name: "accounts" }] });
  assert.equal(namesOf(maps, "queues", "2583,77"), "Billing, 77");
  assert.equal(namesOf(maps, "agents", "ag1"), "ag1");
  assert.ok(matches("bill", "2583", "Billing"));
  assert.ok(matches("258", "2583", "Billing"));
  assert.ok(!matches("xyz", "2583", "Billing"));
  assert.deepEqual(byName(maps, "queues", ["2583", "77", "9"]), ["77", "9", "2583"]);
  assert.deepEqual(directoryMaps(null).agents.size, 0);
});

test("a call's time of day alone, in the locale, for a one-day window", () => {
  assert.equal(formatCallTime("03/13/2024 14:05:09", "en-US"), "2:05:09 PM");
  assert.equal(formatCallTime("03/13/2024 14:05:09", "en-GB"), "14:05:09");
  assert.equal(formatCallTime("not a date", "en-US"), "not a date");
});

test("a call's outcome is answered, abandoned or other, as the figures count them", () => {
  assert.equal(outcomeOf({ agentCallHandlingDuration: "1000.0", abandonTime: "0.0" }), "answered");
  assert.equal(outcomeOf({ agentCallHandlingDuration: "0.0", abandonTime: "4000.0" }), "abandoned");
  assert.equal(outcomeOf({ agentCallHandlingDuration: "0", abandonTime: "0" }), "other");
  assert.equal(outcomeOf({}), "other");
});
