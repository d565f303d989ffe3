"""Asterisk: calls from `queue_log` lines, optionally joined with `Master.csv` rows (cdr_csv).

`QueueLogReader` is incremental, for a follower as much as for an import: `feed` takes numbered
lines and returns the calls those lines finished; a call whose queue visit has ended is kept a
while (`settle` seconds of log time) so that an ENTERQUEUE continuing it (a caller re-entering
another queue) re-opens it, and it is then returned again under the same callId. Only calls with
an open visit, or finished within `settle`, are held in memory.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from .sources import EMPTY_CALL, LocalClock, SourceError, SourceReport

Line = tuple[int, str]

# queue_log lines of these ids are agent and queue events, not calls.
NOT_CALLS = frozenset({"NONE", "MANAGER", "REALTIME", "CLI"})
ENDS_VISIT = frozenset(
    {
        "COMPLETEAGENT",
        "COMPLETECALLER",
        "TRANSFER",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
        "ABANDON",
        "EXITEMPTY",
        "EXITWITHTIMEOUT",
        "EXITWITHKEY",
        "WITHDRAW",
    }
)
# Events known to carry nothing the record holds.
IGNORED = frozenset(
    {"RINGNOANSWER", "RINGCANCELED", "SYSCOMPAT", "AGENTDUMP", "INFO", "ATTENDEDTRANSFERFAIL"}
)
HUNGUP_BY = {
    "COMPLETEAGENT": "Agent",
    "COMPLETECALLER": "Caller",
    "ABANDON": "Caller",
    "EXITWITHKEY": "Caller",
    "WITHDRAW": "Caller",
    "EXITWITHTIMEOUT": "System",
    "EXITEMPTY": "System",
}

# The slots of a call's state (a list: small, and fast to update).
(
    START,  # the earliest instant the lines imply (s)
    LAST,  # the latest line's time (s)
    ENTERED,  # the first ENTERQUEUE's time (s), or -1
    WAIT,
    ABANDON,
    HANDLING,
    TRANSFERS,
    HOLD,
    MAX_HOLD,
    HOLDS,
    HOLD_SINCE,  # the open CALLERONHOLD's time, or -1
    QUEUES,
    AGENTS,
    NUMBER,
    NAME,
    DIALED,
    DESTINATION,
    HUNGUP,
    VISIT_OPEN,
    VISIT_ENTERED,
    FIRST_LINE,
) = range(21)


def _seconds(text: str) -> int:
    # A whole number of seconds as Asterisk writes them (%ld); a blank value counts 0.
    if text.isdigit() and text.isascii() and len(text) < 8:
        return int(text)
    if not text.strip():
        return 0
    raise ValueError(f"{text[:30]!r} is not a number of seconds (0 to 9999999)")


def _bad_text(text: str, sep: str = "|") -> str | None:
    # What no record may hold: a NUL, text that is not Unicode, a value over 1024 characters.
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "is not valid UTF-8 text"
    if len(text) > 1024 and any(len(part) > 1024 for part in text.split(sep)):
        return "has a field over 1024 characters"
    return None


class CdrIndex:
    """Master.csv rows grouped by the call they belong to (`linkedid`, else `uniqueid`)."""

    def __init__(self, timezone: str = "UTC", name: str = "Master.csv") -> None:
        self.clock = LocalClock(timezone)
        self.name = name
        self.report = SourceReport()
        # key -> [start, end, src, clid name, dst, dcontext, lastapp, billsec, answered, line]
        self.calls: dict[str, list[Any]] = {}

    def feed(self, lines: Iterable[Line]) -> None:
        """Read more rows (numbered lines of Master.csv)."""
        report = self.report
        calls = self.calls
        seconds = self.clock.seconds
        for number, text in lines:
            report.lines += 1
            if not text.strip():
                continue
            where = f"{self.name} line {number}"
            if problem := _bad_text(text, ","):
                report.fail(where, problem)
                continue
            try:
                row = next(csv.reader((text,)))
            except (csv.Error, StopIteration) as exc:
                report.fail(where, f"is not a CSV row ({exc})")
                continue
            width = len(row)
            if width in (17, 18):
                key = row[16]
            elif width in (19, 20, 21):
                key = row[width - 2] or (row[16] if width > 19 else "")
            elif width == 16:
                report.fail(where, "has 16 columns: log the uniqueid (loguniqueid) to match rows")
                continue
            else:
                report.fail(
                    where,
                    f"has {width} columns; Master.csv has 17 or 18 (with uniqueid, userfield) "
                    "or 19 to 21 (with peeraccount, linkedid, sequence)",
                )
                continue
            key = key.strip()
            if not key:
                report.fail(where, "has an empty uniqueid/linkedid")
                continue
            try:
                start = seconds(row[9].strip())
                end = seconds(row[11].strip()) if row[11].strip() else start
            except ValueError as exc:
                report.fail(where, f"start/end {exc}")
                continue
            if end < start:
                report.fail(where, "ends before it starts")
                continue
            billsec = _seconds(row[13].strip())
            answered = row[14].strip() == "ANSWERED"
            entry = calls.get(key)
            if entry is None:
                calls[key] = [
                    start,
                    end,
                    row[1].strip(),
                    _clid_name(row[4]),
                    row[2].strip(),
                    row[3].strip(),
                    row[7].strip(),
                    billsec,
                    answered,
                    number,
                ]
            else:
                if start < entry[0]:  # an earlier row: the call's first leg names the caller
                    entry[0], entry[2], entry[3], entry[4] = (
                        start,
                        row[1].strip(),
                        _clid_name(row[4]),
                        row[2].strip(),
                    )
                    entry[5], entry[6], entry[7], entry[8] = (
                        row[3].strip(),
                        row[7].strip(),
                        (billsec),
                        answered,
                    )
                entry[1] = max(entry[1], end)


def _clid_name(clid: str) -> str:
    # `"Name" <number>`: the name part; a bare number names nobody.
    clid = clid.strip()
    if "<" not in clid:
        return ""
    name = clid[: clid.rfind("<")].strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return name.strip()


class QueueLogReader:
    """Turns queue_log lines into finished calls; see the module's docstring."""

    def __init__(
        self,
        server: str,
        *,
        cdr: CdrIndex | None = None,
        settle: int = 3600,
        hold_finished: bool = False,
    ) -> None:
        if not server or not server.strip():
            raise SourceError("server", "a server name is required (it makes the callIds)")
        self.server = server.strip()
        self.cdr = cdr
        self.settle = settle
        # An import holds each finished call for `settle` and returns it once; a follower
        # returns it at once (and again if it continues).
        self.hold_finished = hold_finished
        self.report = SourceReport()
        self.open: dict[str, list[Any]] = {}
        self.finished: dict[str, list[Any]] = {}
        self._finished_order: deque[tuple[int, str]] = deque()
        self._latest = 0
        self._queue_ids: set[str] = set()

    def oldest_pending_line(self) -> int | None:
        """The first line of the oldest call still held: where a restarted follower resumes."""
        lines = [state[FIRST_LINE] for state in self.open.values()]
        lines += [state[FIRST_LINE] for state in self.finished.values()]
        return min(lines) if lines else None

    def feed(self, lines: Iterable[Line]) -> list[dict[str, Any]]:
        """Read more numbered lines; the calls they finished (or finished long enough ago)."""
        out: list[dict[str, Any]] = []
        report = self.report
        open_calls = self.open
        finished = self.finished
        hold = self.hold_finished
        for number, text in lines:
            report.lines += 1
            parts = text.rstrip("\r\n").split("|")
            if len(parts) < 5:
                if text.strip():
                    report.fail(f"line {number}", "is not epoch|callid|queue|agent|EVENT|data...")
                continue
            when, callid, queue, agent, event = parts[0], parts[1], parts[2], parts[3], parts[4]
            if callid in NOT_CALLS:
                continue
            if (len(text) > 1024 or not text.isascii() or "\x00" in text) and (
                problem := _bad_text(text)
            ):
                report.fail(f"line {number}", problem)
                continue
            callid = callid.strip()
            if not (when.isdigit() and when.isascii()) or len(when) > 11:
                report.fail(f"line {number}", f"time {when[:30]!r} is not epoch seconds")
                continue
            if not callid or len(callid) > 200:
                report.fail(f"line {number}", "has no callid (or one over 200 characters)")
                continue
            t = int(when)
            if t > self._latest:
                self._latest = t
            state = open_calls.get(callid)
            if state is None:
                state = finished.get(callid)
                if state is not None and event == "ENTERQUEUE":
                    del finished[callid]
                    open_calls[callid] = state
                elif state is None:
                    if event not in ENDS_VISIT and event not in _EVENTS:
                        report.unknown_events += 1
                        continue
                    state = [t, t, -1, 0, 0, 0, 0, 0, 0, 0, -1, [], [], "", "", "", "", ""]
                    state += [False, t, number]
                    open_calls[callid] = state
            if t > state[LAST]:
                state[LAST] = t
            if t < state[START]:
                state[START] = t
            try:
                if event in ENDS_VISIT:
                    self._end_visit(state, t, event, parts)
                elif event == "CONNECT":
                    holdtime = _seconds(parts[5]) if len(parts) > 5 else 0
            except ValueError as exc:
                report.fail(f"line {number}", f"{event}: {exc}")
                continue
            if event in ENDS_VISIT:
                state[VISIT_OPEN] = False
                if callid in open_calls:
                    del open_calls[callid]
                    finished[callid] = state
                    self._finished_order.append((t, callid))
                if not hold:
                    out.append(self._call(callid, state))
                continue
            if event == "ENTERQUEUE":
                state[VISIT_OPEN] = True
                state[VISIT_ENTERED] = t
                if state[ENTERED] < 0 or t < state[ENTERED]:
                    state[ENTERED] = t
                if queue and queue not in state[QUEUES]:
                    state[QUEUES].append(queue)
                if len(parts) > 6 and not state[NUMBER]:
                    state[NUMBER] = parts[6].strip()
                if len(parts) > 8 and not state[NAME]:
                    state[NAME] = parts[8].strip()
            elif event == "CONNECT":
                state[WAIT] += holdtime
                if t - holdtime < state[START]:
                    state[START] = max(t - holdtime, 0)
                if agent and agent not in state[AGENTS]:
                    state[AGENTS].append(agent)
            elif event == "CALLERONHOLD":
                state[HOLD_SINCE] = t
            elif event == "CALLEROFFHOLD":
                since = state[HOLD_SINCE]
                if since >= 0:
                    held = max(t - since, 0)
                    state[HOLD] += held
                    state[HOLDS] += 1
                    if held > state[MAX_HOLD]:
                        state[MAX_HOLD] = held
                    state[HOLD_SINCE] = -1
            elif event == "DID":
                if len(parts) > 5:
                    state[DIALED] = parts[5].strip()
            elif event in IGNORED:
                continue
            else:
                report.unknown_events += 1
                continue
            if not hold and event != "ENTERQUEUE" and callid in finished:
                # A late line of a call already returned: return it again, completed.
                out.append(self._call(callid, state))
        out += self._settled()
        return out

    def _end_visit(self, state: list[Any], t: int, event: str, parts: list[str]) -> None:
        n = len(parts)
        if event.startswith("COMPLETE"):
            holdtime = _seconds(parts[5]) if n > 5 else 0
            calltime = _seconds(parts[6]) if n > 6 else 0
            state[HANDLING] += calltime
            state[HUNGUP] = HUNGUP_BY[event]
            implied = t - calltime - holdtime
        elif event == "TRANSFER" or event == "BLINDTRANSFER":
            holdtime = _seconds(parts[7]) if n > 7 else 0
            calltime = _seconds(parts[8]) if n > 8 else 0
            state[HANDLING] += calltime
            state[TRANSFERS] += 1
            if event == "BLINDTRANSFER" and n > 5:
                state[DESTINATION] = parts[5].strip()
            state[HUNGUP] = ""
            implied = t - calltime - holdtime
        elif event == "ATTENDEDTRANSFER":
            # BRIDGE|id and APP|app take one field, LINK|chan1|chan2 two; then hold, call time.
            at = 8 if n > 5 and parts[5] == "LINK" else 7
            holdtime = _seconds(parts[at]) if n > at else 0
            calltime = _seconds(parts[at + 1]) if n > at + 1 else 0
            state[HANDLING] += calltime
            state[TRANSFERS] += 1
            state[HUNGUP] = ""
            implied = t - calltime - holdtime
        else:
            # ABANDON, EXIT*, WITHDRAW: the wait is the event's waittime; the oldest forms
            # lack it, and then the time since this visit's ENTERQUEUE says the same.
            at = 8 if event == "EXITWITHKEY" else 7
            if n > at and parts[at].strip():
                waited = _seconds(parts[at])
            else:
                waited = max(t - state[VISIT_ENTERED], 0) if state[VISIT_OPEN] else 0
            state[WAIT] += waited
            if event == "ABANDON":
                state[ABANDON] += waited
            state[HUNGUP] = HUNGUP_BY[event]
            implied = t - waited
        if implied < state[START]:
            state[START] = max(implied, 0)

    def _settled(self) -> list[dict[str, Any]]:
        # Forget (and, when holding, return) the calls finished more than `settle` ago.
        out = []
        order, finished = self._finished_order, self.finished
        horizon = self._latest - self.settle
        while order and order[0][0] < horizon:
            _, callid = order.popleft()
            state = finished.get(callid)
            if state is not None and state[LAST] < horizon:
                del finished[callid]
                if self.hold_finished:
                    out.append(self._call(callid, state))
            elif state is not None:
                order.append((state[LAST], callid))
        return out

    def close(self) -> list[dict[str, Any]]:
        """End of the input: the finished calls still held, and the CDR-only calls."""
        out = []
        if self.hold_finished:
            out = [self._call(callid, state) for callid, state in self.finished.items()]
        self.report.open_calls = len(self.open)
        seen = self._queue_ids | self.finished.keys() | self.open.keys()
        self.finished.clear()
        self._finished_order.clear()
        if self.cdr is not None:
            for key, entry in self.cdr.calls.items():
                if key not in seen:
                    out.append(self._cdr_call(key, entry))
        return out

    def _call(self, callid: str, state: list[Any]) -> dict[str, Any]:
        start = state[START]
        end = state[LAST]
        call = dict(EMPTY_CALL)
        number, name, dialed = state[NUMBER], state[NAME], state[DIALED]
        ivr = 0
        cdr = self.cdr.calls.get(callid) if self.cdr is not None else None
        if cdr is not None:
            self._queue_ids.add(callid)
            start, end = min(start, cdr[0]), max(end, cdr[1])
            if state[ENTERED] >= 0:
                ivr = max(state[ENTERED] - cdr[0], 0)
            number = cdr[2] or number
            name = cdr[3] or name
            dialed = dialed or cdr[4]
        self.report.calls += 1
        call["callId"] = f"{self.server}:{callid}"
        call["startTime"] = start * 1000
        call["callDuration"] = (end - start) * 1000
        call["timeInIVR"] = ivr * 1000
        call["waitTime"] = state[WAIT] * 1000
        call["abandonTime"] = state[ABANDON] * 1000
        call["agentCallHandlingDuration"] = state[HANDLING] * 1000
        call["transferCount"] = state[TRANSFERS]
        call["holdDuration"] = state[HOLD] * 1000
        call["maximumHoldDuration"] = state[MAX_HOLD] * 1000
        call["agentHoldCount"] = state[HOLDS]
        call["queueId"] = list(state[QUEUES])
        call["agentId"] = list(state[AGENTS])
        call["callerNumber"] = call["callerPhoneNumber"] = number
        call["callerName"] = name
        call["dialedNumber"] = dialed
        call["destinationNumber"] = state[DESTINATION]
        call["callType"] = "Inbound"
        call["callSubType"] = "Queued"
        call["hungupBy"] = state[HUNGUP]
        return call

    def _cdr_call(self, key: str, entry: list[Any]) -> dict[str, Any]:
        start, end, src, name, dst, context, app, billsec, answered, _ = entry
        self.report.calls += 1
        call = dict(EMPTY_CALL)
        call["callId"] = f"{self.server}:{key}"
        call["startTime"] = start * 1000
        call["callDuration"] = (end - start) * 1000
        call["callSubType"] = "No Queue"
        direct = app == "Dial"
        if context == "from-internal":
            # Dialled by an extension (FreePBX's context for its phones): the far end is the
            # customer.
            call["callType"] = "Outbound"
            call["callerNumber"] = call["callerPhoneNumber"] = call["destinationNumber"] = dst
        else:
            call["callType"] = "Inbound"
            call["callerNumber"] = call["callerPhoneNumber"] = src
            call["callerName"] = name
            call["dialedNumber"] = dst
        if direct and answered:
            call["agentCallHandlingDuration"] = min(billsec, end - start) * 1000
        elif not direct:
            # Answered by the dialplan itself (a menu, a message): all of it is IVR.
            call["timeInIVR"] = (end - start) * 1000
        return call


_EVENTS = frozenset({"ENTERQUEUE", "CONNECT", "CALLERONHOLD", "CALLEROFFHOLD", "DID"}) | IGNORED


def read_asterisk(
    queue_log: Iterable[Line],
    *,
    server: str,
    cdr: Iterable[Line] | None = None,
    timezone: str = "UTC",
    cdr_name: str = "Master.csv",
    report: SourceReport | None = None,
) -> Iterator[dict[str, Any]]:
    """An import's read: every finished call of a queue_log (and Master.csv), once each.

    The reader's report (errors, calls left open, unknown events) is merged into `report`
    once the calls are all out."""
    index = None
    if cdr is not None:
        index = CdrIndex(timezone, cdr_name)
        index.feed(cdr)
    reader = QueueLogReader(server, cdr=index, hold_finished=True)
    batch: list[Line] = []
    for line in queue_log:
        batch.append(line)
        if len(batch) == 10_000:
            yield from reader.feed(batch)
            batch = []
    yield from reader.feed(batch)
    yield from reader.close()
    if report is not None:
        _merge(report, reader.report)
        if index is not None:
            _merge(report, index.report)


def _merge(into: SourceReport, part: SourceReport) -> None:
    into.lines += part.lines
    into.calls += part.calls
    into.invalid += part.invalid
    into.open_calls += part.open_calls
    into.unknown_events += part.unknown_events
    into.skipped += part.skipped
    into.errors.extend(part.errors[: max(0, 1000 - len(into.errors))])
