import assert from "node:assert/strict";
import { test } from "node:test";

import { Api, ApiError } from "../../src/recent_calls/static/api.js";

const session = { apiKey: "k", token: "t", region: "us", tenant: "acme" };

// fetch is the edge the page does not own: a stand-in answers with the given body reader.
function answering(status, json) {
  globalThis.fetch = async () => ({ ok: status < 400, status, json });
}

test("a request aborted while its body is read stays aborted, never an empty answer", async () => {
  answering(200, () => Promise.reject(new DOMException("The user aborted a request.", "AbortError")));
  await assert.rejects(new Api(session).post("recentCallStats", {}, "stats"), { name: "AbortError" });
});

test("an error answer whose body is not JSON is still an ApiError with its status", async () => {
  answering(502, () => Promise.reject(new SyntaxError("Unexpected token <")));
  await assert.rejects(new Api(session).post("recentCallData", {}), (error) => error instanceof ApiError && error.status === 502);
});

test("a success whose body cannot be read is not drawn as an empty answer", async () => {
  answering(200, () => Promise.reject(new TypeError("network error")));
  await assert.rejects(new Api(session).post("recentCallData", {}), { name: "Error", message: /could not be read/ });
});
