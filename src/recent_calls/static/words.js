// The page's words for the server's names. The names themselves come from /static/schema.json;
// a name with no words here is shown as it is.

export const FIELD_LABELS = {
  callDate: "Date and time",
  callerName: "Caller name",
  callerNumber: "Caller number",
  callerPhoneNumber: "Caller phone number",
  dialedNumber: "Channel (dialed number)",
  destinationNumber: "Destination number",
  queueId: "Queue",
  agentId: "Agent",
  agentGroup: "Agent group",
  callDuration: "Duration",
  agentCallHandlingDuration: "Handle time",
  waitTime: "Wait",
  timeInIVR: "Time in IVR",
  holdDuration: "Hold",
  maximumHoldDuration: "Longest hold",
  muteDuration: "Mute",
  abandonTime: "Abandoned after",
  transferCount: "Transfers",
  callType: "Type",
  callSubType: "Sub type",
  hungupBy: "Hung up by",
  scheduleHours: "Schedule",
  callId: "Call id",
  callDateOnly: "Date",
  callTime: "Time",
  postCallSurvey: "Post-call survey",
  voiceComment: "Voice comment",
  voiceCommentFileNames: "Voice comment files",
  totalScore: "Total score",
  transactionId: "Transaction ids",
  tenantId: "Tenant",
  outcome: "Outcome",
};
// The details panel's groups, by meaning, each field once: the date and time are callDate's
// (callDateOnly and callTime repeat it) and the call id is in the panel's head. Data keys not
// named here are shown under "More".
export const DETAIL_GROUPS = [
  ["When", ["callDate", "scheduleHours"]],
  ["Who called", ["callerName", "callerNumber", "callerPhoneNumber"]],
  ["Where it went", ["dialedNumber", "queueId", "agentGroup", "agentId", "destinationNumber"]],
  ["Outcome", ["outcome", "hungupBy", "abandonTime", "transferCount", "callType", "callSubType"]],
  ["Timings", ["waitTime", "timeInIVR", "agentCallHandlingDuration", "holdDuration",
    "maximumHoldDuration", "muteDuration", "callDuration"]],
];
export const DETAIL_REPEATS = new Set(["callDateOnly", "callTime", "callId"]);

// The details panel's groups for the server's keys: [[title, keys]], every key once.
export function detailGroups(dataKeys) {
  const known = new Set(dataKeys);
  const placed = new Set(DETAIL_GROUPS.flatMap(([, keys]) => keys));
  const groups = DETAIL_GROUPS.map(([title, keys]) => [title, keys.filter((key) => known.has(key) || key === "outcome")]);
  const more = dataKeys.filter((key) => !placed.has(key) && !DETAIL_REPEATS.has(key));
  return [...groups, ["More", more]].filter(([, keys]) => keys.length);
}

export const OUTCOME_WORDS = { answered: "Answered", abandoned: "Abandoned", other: "Other" };

// How a data key is shown: durations and counts by name; everything else is text.
export const DURATION_KEYS = new Set([
  "callDuration", "agentCallHandlingDuration", "waitTime", "timeInIVR", "holdDuration",
  "maximumHoldDuration", "muteDuration", "abandonTime",
]);
export const COUNT_KEYS = new Set(["transferCount"]);
export const PHONE_KEYS = new Set([
  "callerNumber", "callerPhoneNumber", "dialedNumber", "destinationNumber",
]);
// Data keys holding directory ids, and the directory list that names them.
export const NAMED_KEYS = {
  agentId: "agents", queueId: "queues", agentGroup: "groups", dialedNumber: "channels",
};

export const FILTER_LABELS = {
  tenantAgents: "Agent",
  tenantQueues: "Queue",
  tenantGroups: "Agent group",
  tenantChannels: "Channel",
  agentHoldCount: "Holds placed by agents",
  agentMuteCount: "Mutes",
  transferCount: "Transfers",
  callDuration: "Call duration",
  timeInQueue: "Time in queue",
  timeInIVR: "Time in IVR",
  agentCallDuration: "Agent handle time",
  agentHoldDuration: "Hold time",
  caller: "Caller",
  outcome: "Outcome",
  timezone: "Time zone",
  timeRange: "Date and time range",
  interval: "Chart by",
  groupBy: "Break down by",
  serviceLevelSeconds: "Service level",
};
// The directory list each list filter picks from, and the facet that offers its values.
export const LIST_DIRECTORY = {
  tenantAgents: "agents", tenantQueues: "queues", tenantGroups: "groups", tenantChannels: "channels",
};
export const UNIT_WORDS = { sec: "seconds", min: "minutes" };
export const PERIOD_WORDS = {
  last15m: "Last 15 minutes",
  last1h: "Last hour",
  last4h: "Last 4 hours",
  today: "Today",
  yesterday: "Yesterday",
  week: "This week (from Monday)",
  month: "This month",
  allhistory: "All history",
  last7: "Last 7 days",
  range: "Date and time range",
};

export function label(name, labels = FIELD_LABELS) {
  return labels[name] ?? FILTER_LABELS[name] ?? name;
}

// The period a fruitless search widens to: a week from a day or less, all history from longer.
export function widerPeriod(period) {
  return ["last15m", "last1h", "last4h", "today", "yesterday"].includes(period) ? "last7" : "allhistory";
}

// The empty state's words: what was searched, over which period, and the wider search offered.
export function emptyWords(view) {
  const when = view.period === "range" ? "in the chosen range" : (PERIOD_WORDS[view.period] ?? view.period).toLowerCase();
  const wider = widerPeriod(view.period);
  const widen = `Search ${(PERIOD_WORDS[wider] ?? wider).toLowerCase()}`;
  const caller = view.caller.trim();
  if (!caller) {
    return { title: `No calls match these filters ${when}.`, hint: "Clear the filters, or search a longer period.", widen };
  }
  const number = /^[0-9+().\- ]+$/.test(caller) && /[0-9]/.test(caller);
  const hint = number
    ? "Numbers are found by their digits, however they are typed: try fewer digits, or a longer period."
    : "Names are found by any part of them: try fewer letters, or a longer period.";
  return { title: `No calls from “${caller}” ${when}.`, hint, widen };
}
