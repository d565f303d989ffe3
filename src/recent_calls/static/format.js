// Pure formatting: durations, counts, dates in a zone, phone numbers, human error words.
// No DOM and no globals beyond Intl, so Node's test runner checks every function here.

// Milliseconds as h:mm:ss (or m:ss under an hour); "" for anything that is not a number.
export function formatDuration(value) {
  if (value === null || value === undefined || value === "") return "";
  const ms = Number(value);
  if (!Number.isFinite(ms)) return "";
  const sign = ms < 0 ? "-" : "";
  const total = Math.round(Math.abs(ms) / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours
    ? `${sign}${hours}:${String(minutes).padStart(2, "0")}:${seconds}`
    : `${sign}${minutes}:${seconds}`;
}

// A duration in words for the details panel: "1 h 2 min 5 s", "45 s", "0 s".
export function durationWords(value) {
  const ms = Number(value);
  if (value === null || value === undefined || value === "" || !Number.isFinite(ms)) return "";
  const total = Math.round(ms / 1000);
  const parts = [];
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours) parts.push(`${hours} h`);
  if (minutes) parts.push(`${minutes} min`);
  if (seconds || !parts.length) parts.push(`${seconds} s`);
  return parts.join(" ");
}

const numberFormats = new Map();

// A whole number with the locale's thousands separators.
export function formatCount(value, locale = undefined) {
  const key = locale ?? "";
  if (!numberFormats.has(key)) {
    numberFormats.set(key, new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }));
  }
  const number = Number(value);
  return Number.isFinite(number) ? numberFormats.get(key).format(number) : "";
}

// A 0..1 share as a percentage with one decimal, "–" for null.
export function formatRate(value, locale = undefined) {
  if (value === null || value === undefined) return "–";
  return new Intl.NumberFormat(locale, {
    style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1,
  }).format(value);
}

// An instant in `zone`, in the browser's locale: "3/10/2024, 2:05:09 PM".
export function formatDateTime(epochMs, zone, locale = undefined) {
  const when = Number(epochMs);
  if (!Number.isFinite(when)) return "";
  return new Intl.DateTimeFormat(locale, {
    timeZone: zone, dateStyle: "short", timeStyle: "medium",
  }).format(new Date(when));
}

// A chart bucket's range in `zone`, in the page's date format (weekday, numeric date, time):
// "Wed, 3/13/2024, 2:00 – 3:00 PM" for an hour, "Wed, 3/13/2024" for a day.
export function formatBucket(startMs, endMs, zone, interval, locale = undefined) {
  const options = { timeZone: zone, weekday: "short", year: "numeric", month: "numeric", day: "numeric" };
  if (interval === "hour") Object.assign(options, { hour: "numeric", minute: "2-digit" });
  const format = new Intl.DateTimeFormat(locale, options);
  const start = new Date(Number(startMs));
  const end = new Date(Number(endMs) - (interval === "hour" ? 0 : 1));
  return format.formatRange(start, end);
}

// A short time of day in `zone` ("2:05:09 PM"), for "updated at".
export function formatTime(epochMs, zone, locale = undefined) {
  return new Intl.DateTimeFormat(locale, { timeZone: zone, timeStyle: "medium" })
    .format(new Date(Number(epochMs)));
}

// A chart tick: weekday and day for days ("Sun 10"), weekday and hour for hours ("Sun 14:00").
export function formatTick(epochMs, zone, interval, locale = undefined) {
  const options = interval === "hour"
    ? { timeZone: zone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
    : { timeZone: zone, weekday: "short", month: "short", day: "numeric" };
  return new Intl.DateTimeFormat(locale, options).format(new Date(Number(epochMs)));
}

// A response's local "MM/DD/YYYY HH:MM:SS" (already in the response's zone) shown in the
// browser's locale, weekday included: "Sun, 3/10/2024, 14:05:09" in en-US.
export function formatCallDate(callDate, locale = undefined) {
  const match = /^(\d{2})\/(\d{2})\/(\d{4})(?: (\d{2}):(\d{2}):(\d{2}))?$/.exec(
    String(callDate ?? "").trim());
  if (!match) return String(callDate ?? "");
  const [, month, day, year, hours = "0", minutes = "0", seconds = "0"] = match;
  const wall = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hours),
    Number(minutes), Number(seconds));
  return new Intl.DateTimeFormat(locale, {
    timeZone: "UTC", weekday: "short", year: "numeric", month: "numeric", day: "numeric",
    hour: "numeric", minute: "2-digit", second: "2-digit",
  }).format(new Date(wall));
}

// The time of day of a response's local "MM/DD/YYYY HH:MM:SS" in the browser's locale
// ("2:05:09 PM" in en-US), for a window of one day where the date would repeat on every row.
export function formatCallTime(callDate, locale = undefined) {
  const match = /^\d{2}\/\d{2}\/\d{4} (\d{2}):(\d{2}):(\d{2})$/.exec(String(callDate ?? "").trim());
  if (!match) return formatCallDate(callDate, locale);
  const [, hours, minutes, seconds] = match.map(Number);
  return new Intl.DateTimeFormat(locale, {
    timeZone: "UTC", hour: "numeric", minute: "2-digit", second: "2-digit",
  }).format(new Date(Date.UTC(2000, 0, 1, hours, minutes, seconds)));
}

// What became of a call, as the figures count it: answered (an agent handled it), abandoned
// (an abandon time), or other (neither: voicemail, an IVR exit, an outbound call unanswered).
export function outcomeOf(call) {
  if (Number(call.agentCallHandlingDuration) > 0) return "answered";
  if (Number(call.abandonTime) > 0) return "abandoned";
  return "other";
}

// The country whose national format a tenant's own numbers are shown in, by API region.
export const REGION_COUNTRY = { us: "US", uk: "GB" };

// A phone number formatted by its country (libphonenumber-js, vendored, a global of the page):
// the tenant's own country's numbers in national form, "(415) 555-0123" or "020 7946 0000",
// others in international form, "+44 20 7946 0000"; anything that is no possible number is
// left exactly as given.
export function formatPhone(value, country = "US") {
  if (value === null || value === undefined) return "";
  const text = String(value).trim();
  const library = globalThis.libphonenumber;
  if (!library || !/^[+0-9 ()\-.]*[0-9][+0-9 ()\-.]*$/.test(text)) return text;
  const number = library.parsePhoneNumberFromString(text, country);
  if (!number?.isPossible()) return text;
  return number.country === country ? number.formatNational() : number.formatInternational();
}

// A JSON-in-string field laid out as [label, value] pairs; null when it is not JSON.
export function jsonEntries(value) {
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (!(text.startsWith("{") || text.startsWith("["))) return null;
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const entries = [];
  const walk = (node, prefix) => {
    if (node !== null && typeof node === "object") {
      const pairs = Array.isArray(node)
        ? node.map((item, index) => [String(index + 1), item])
        : Object.entries(node);
      if (!pairs.length) entries.push([prefix || "(empty)", ""]);
      for (const [key, item] of pairs) walk(item, prefix ? `${prefix} › ${key}` : key);
    } else {
      entries.push([prefix || "value", node === null ? "" : String(node)]);
    }
  };
  walk(parsed, "");
  return entries;
}

// A field's problem in its own words: what the field is called, and what to do.
export function fieldMessage(label, kind) {
  switch (kind) {
    case "order": return `${label}: "at least" must not be more than "at most".`;
    case "whole": return `${label}: enter a whole number of 0 or more, or leave it empty.`;
    case "zone": return `${label}: not a time zone this browser knows. Try one from the list, e.g. America/New_York.`;
    case "range": return `${label}: choose both the start and the end.`;
    case "incomplete": return `${label}: the date is incomplete; enter the day, month, year and time.`;
    case "year": return `${label}: enter a year from 1970 to 9999.`;
    case "rangeOrder": return `${label}: the end must come after the start.`;
    default: return `${label}: this value was not accepted.`;
  }
}

// The words for an API problem that no field owns.
export function problemWords(status, detail) {
  if (status === 401) return "Your key or token was not accepted. Check them and sign in again.";
  // A push-only key (scopes, docs/security.md) is refused with a detail naming the scope.
  if (status === 403 && /'read' scope/.test(detail || "")) {
    return "This key may only push calls, not read them. Sign in with a key that has the read scope.";
  }
  if (status === 403) return "This key does not give access to that tenant.";
  if (status === 429) return "Too many requests just now. Wait a moment and try again.";
  if (status === 404) return "The server does not offer this yet.";
  if (status >= 500) return "The server could not answer. Try again in a moment.";
  return detail || `The server answered ${status}.`;
}
