// The API: credentials held in this tab only, one POST helper, stale requests aborted.

const BASE = "/customerexperience/v1";
const SESSION_KEY = "recentCalls.session";

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem;
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

// The network itself failed: offline, or the server is unreachable.
export class Offline extends Error {}

export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    return session && session.apiKey && session.token && session.tenant ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function forgetSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

export async function fetchSchema() {
  const response = await fetch("/static/schema.json", { cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status);
  return response.json();
}

export class Api {
  constructor(session) {
    this.session = session;
    this.controllers = new Map();
  }

  request(endpoint, body, signal) {
    const { apiKey, token, region } = this.session;
    return fetch(`${BASE}/${endpoint}/${encodeURIComponent(region)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "8x8-apikey": apiKey, token },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal,
    }).catch((error) => {
      if (error.name === "AbortError") throw error;
      throw new Offline(error.message);
    });
  }

  // POST `body`; on a `channel`, a newer request aborts the one still running.
  async post(endpoint, body, channel = null) {
    let signal;
    if (channel) {
      this.controllers.get(channel)?.abort();
      const controller = new AbortController();
      this.controllers.set(channel, controller);
      signal = controller.signal;
    }
    const response = await this.request(endpoint, body, signal);
    // A body cut short by a newer request is an abort, not an empty answer to draw.
    const answer = await response.json().catch((error) => {
      if (error.name === "AbortError") throw error;
      if (response.ok) throw new Offline(`The answer could not be read: ${error.message}`);
      return {};
    });
    if (!response.ok) throw new ApiError(response.status, answer);
    return answer;
  }

  // The tenant's directory of names; an empty one when the server has none (404).
  async directory() {
    try {
      return await this.post("recentCallDirectory", { tenantId: this.session.tenant });
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
        return { agents: [], queues: [], groups: [], channels: [] };
      }
      throw error;
    }
  }

  // The streamed CSV export: a Response, or null when the server has no such endpoint.
  async exportStream(body, signal) {
    const response = await this.request("recentCallExport", body, signal);
    if (response.status === 404 || response.status === 405) return null;
    if (!response.ok) {
      throw new ApiError(response.status, await response.json().catch(() => ({})));
    }
    return response;
  }
}
