"""Asterisk: calls from `queue_log` lines, optionally joined with `Master.csv` rows (cdr_csv).

`read_asterisk` is an import's read: every finished call once, Master.csv joined.

`QueueLogReader` is incremental, for a follower as much as for an import: `feed` takes numbered
lines and returns the calls those lines finished; a call whose queue visit has ended is kept a
while (`settle` seconds of log time) so that an ENTERQUEUE continuing it (a caller re-entering
another queue) re-opens it, and it is then returned again under the same callId. Only calls with
an open visit, or finished within `settle`, are held in memory. A follower also gives it the
Master.csv rows as they come (`feed_cdr`: cdr_csv writes a row at hangup, after the queue_log's
last line), stores what either returns, and keeps as its position the line
`oldest_pending_line` names: reading again from there after a restart rebuilds the calls it
held, and stores nothing that differs from what it stored.
"""

from __future__ import annotations

import csv
import itertools
import operator
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from recent_calls.ingest.records import READER_FIELDS
from recent_calls.ingest.sources import (
    EMPTY_CALL,
    Block,
    LocalClock,
    SourceError,
    SourceReport,
)

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
        # key -> [start, end, src, clid, dst, placed by a phone (dcontext from-internal),
        #         dialled straight to someone (lastapp Dial), billsec, answered, line]
        self.calls: dict[str, list[Any]] = {}

    def feed(self, lines: Iterable[Line], *, touched: bool = True) -> list[str]:
        """Read more rows (numbered lines of Master.csv); the keys of the calls they touched
        (none unless `touched`: an import reads the whole file first and needs none)."""
        at: list[Any] = [0, False]  # the line csv is reading; whether a line of its row is suspect

        def texts() -> Iterator[str]:
            for number, text in lines:
                at[0] = number
                if _suspect(text):
                    at[1] = True
                yield text

        return self._index(texts(), at, touched=touched, counted=False)

    def feed_blocks(self, blocks: Iterable[Block]) -> None:
        """An import's read of a whole Master.csv from its first line, a block of lines at a
        time (`file_blocks`): the lines of a plain block are not looked at one by one."""
        at: list[Any] = [0, False]  # at[0] unused: csv counts the lines

        def texts() -> Iterator[str]:
            for block in blocks:
                # Each line with its line end, as csv reads a file: a file's last line may have
                # none (a row cdr_csv is still writing), and then none is added.
                ends: Iterable[str] = itertools.repeat("\n")
                if not block.ended:
                    ends = itertools.chain(itertools.repeat("\n", len(block.lines) - 1), ("",))
                if block.plain:
                    yield from map(operator.add, block.lines, ends)
                    continue
                for text, end in zip(block.lines, ends, strict=False):  # `ends` may be endless
                    if _suspect(text):
                        at[1] = True
                    yield text + end

        self._index(texts(), at, touched=False, counted=True)

    def _index(
        self, texts: Iterator[str], at: list[Any], *, touched: bool, counted: bool
    ) -> list[str]:
        # The rows of the lines `texts` gives; a row's line is csv's count of lines (`counted`,
        # from a file's first line) or the number the lines came with (at[0]).
        keys: dict[str, None] = {}
        report = self.report
        fail = report.fail
        calls = self.calls
        seconds = self.clock.seconds
        last = 0  # the last line of the row before
        read: list[Any] = [None, 0, None, 0]  # the last start and end text, and their seconds
        rows = csv.reader(texts)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:
                number = rows.line_num if counted else at[0]
                fail(f"{self.name} line {number}", f"is not a CSV row ({exc})")
                at[1], last = False, number
                continue
            number = rows.line_num if counted else at[0]
            # A row to look at field by field: one of its lines is, or it spans lines (a quoted
            # newline: a NUL or a long field may be on a line before its last).
            suspect = at[1] or number - last > 1
            at[1], last = False, number
            width = len(row)
            if width == 0:
                continue
            if width in (17, 18):
                key = row[16]
            elif width in (19, 20, 21):
                key = row[width - 2] or (row[16] if width > 19 else "")
            elif width == 16:
                fail(
                    f"{self.name} line {number}",
                    "has 16 columns: log the uniqueid (loguniqueid) to match rows",
                )
                continue
            else:
                fail(
                    f"{self.name} line {number}",
                    f"has {width} columns; Master.csv has 17 or 18 (with uniqueid, userfield) "
                    "or 19 to 21 (with peeraccount, linkedid, sequence)",
                )
                continue
            src, dst, clid, start_text, end_text = row[1], row[2], row[4], row[9], row[11]
            if suspect and (problem := _bad_fields(row)):
                fail(f"{self.name} line {number}", problem)
                continue
            key = key.strip()
            if not key:
                fail(f"{self.name} line {number}", "has an empty uniqueid/linkedid")
                continue
            try:
                # A call's rows (one a leg) mostly share their times: each read once.
                if start_text != read[0]:
                    read[:2] = start_text, seconds(start_text)
                start = read[1]
                if not end_text:
                    end = start
                elif end_text == read[2]:
                    end = read[3]
                else:
                    end = seconds(end_text)
                    read[2:] = end_text, end
            except ValueError as exc:
                fail(f"{self.name} line {number}", f"start/end {exc}")
                continue
            if end < start:
                fail(f"{self.name} line {number}", "ends before it starts")
                continue
            if touched:
                keys[key] = None
            entry = calls.get(key)
            if entry is None:
                calls[key] = [
                    start,
                    end,
                    src.strip(),
                    clid,
                    dst.strip(),
                    row[3].strip() == "from-internal",
                    row[7].strip() == "Dial",
                    _billsec(row[13]),
                    row[14] == "ANSWERED",
                    number,
                ]
            else:
                if start < entry[0]:  # an earlier row: the call's first leg names the caller
                    entry[:9] = [
                        start,
                        entry[1],
                        src.strip(),
                        clid,
                        dst.strip(),
                        row[3].strip() == "from-internal",
                        row[7].strip() == "Dial",
                        _billsec(row[13]),
                        row[14] == "ANSWERED",
                    ]
                if end > entry[1]:
                    entry[1] = end
        report.lines += rows.line_num
        return list(keys)


def _suspect(text: str) -> bool:
    # A Master.csv line to look at field by field: a NUL, text not UTF-8, a long field.
    return not text.isascii() or len(text) > 1024 or "\x00" in text


def _bad_fields(row: list[str]) -> str | None:
    # What no record may hold, in a Master.csv row (joined so that no two fields make one long
    # one: a row may be longer than 1024 characters).
    if max(map(len, row)) > 1024:
        return "has a field over 1024 characters"
    return _bad_text("|".join(row))


def _billsec(text: str) -> int:
    # Master.csv's billsec: what cdr_csv writes (%ld), else 0 (`isdigit` alone takes "²").
    # `_seconds`' first test, without its error: a row's billsec is never refused.
    return int(text) if text.isdigit() and text.isascii() and len(text) < 8 else 0


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
        stale: int = 86_400,
        hold_finished: bool = False,
        typed: bool = False,
    ) -> None:
        if not server or not server.strip():
            raise SourceError("server", "a server name is required (it makes the callIds)")
        self.server = server.strip()
        self.cdr = cdr
        self.settle = settle
        # An import holds each finished call for `settle` and returns it once; a follower
        # returns it at once (and again if it continues).
        self.hold_finished = hold_finished
        # Calls as READER_FIELDS tuples (an import's, which `records.typed_row` stores), or
        # as dicts in the import shape.
        self.typed = typed
        self.report = SourceReport()
        self.open: dict[str, list[Any]] = {}
        self.finished: dict[str, list[Any]] = {}
        self._finished_order: deque[tuple[int, str]] = deque()
        self._latest = 0
        self._forgotten: dict[str, int] = {}  # callid -> last line's time, oldest first
        self._dids: dict[str, tuple[int, str, int]] = {}  # callid -> (time, DID, line number)
        self.stale = stale
        self._cdr_only: dict[str, int] = {}  # a follower's calls without a queue -> their end
        # Each call's first ENTERQUEUE time (epoch s, -1 for none), in the order the calls are
        # made, when an import joins Master.csv elsewhere (`join_cdr`) and asks for them.
        self.entered: list[int] | None = None

    def oldest_pending_line(self) -> int | None:
        """The first line of the oldest call still held: where a restarted follower resumes."""
        lines = [state[FIRST_LINE] for state in self.open.values()]
        lines += [state[FIRST_LINE] for state in self.finished.values()]
        lines += [line for _, _, line in self._dids.values()]
        return min(lines) if lines else None

    def feed(self, lines: Iterable[Line], *, plain: bool = False) -> list[Any]:
        """Read more numbered lines; the calls they finished (or finished long enough ago).
        `plain`: the lines are known to hold no NUL, no text that is not UTF-8 and no more than
        1024 characters (a plain `Block`), so they are not looked at one by one for those."""
        # The hot loop of an import (5 lines a call): everything is a local name, and the
        # common events are tested first.
        out: list[Any] = []
        report = self.report
        fail = report.fail
        open_calls = self.open
        finished = self.finished
        finished_order = self._finished_order
        hold = self.hold_finished
        make_call = self._call
        not_calls, ends_visit, known, ignored = NOT_CALLS, ENDS_VISIT, _EVENTS, IGNORED
        starts = _STARTS
        dids = self._dids
        latest = self._latest
        count = unknown = 0
        for number, text in lines:
            count += 1
            line = text.rstrip("\r\n")
            parts = line.split("|")
            if len(parts) < 5:
                if line.strip():
                    fail(f"line {number}", "is not epoch|callid|queue|agent|EVENT|data...")
                continue
            callid = parts[1]
            if callid in not_calls:
                continue
            if not plain and (not line.isascii() or len(line) > 1024 or "\x00" in line):
                problem = _bad_text(line)
                if problem:
                    fail(f"line {number}", problem)
                    continue
            when = parts[0]
            # ASCII digits only: `int` reads other scripts' digits, and refuses "²".
            if not (when.isdigit() and when.isascii()) or (t := int(when)) > 99_999_999_999:
                fail(f"line {number}", f"time {when[:30]!r} is not epoch seconds")
                continue
            event = parts[4]
            if event in ignored:  # nothing the record holds; never the last line of a call
                continue
            if t > latest:
                latest = t
            state = open_calls.get(callid)
            if state is None:
                state = finished.get(callid)
                if state is None:
                    if event not in starts and event not in ends_visit:
                        if event == "DID":  # written before the call reaches a queue, if ever
                            self._did(callid, t, parts, number)
                        elif event not in known:
                            unknown += 1
                        continue
                    if not callid or len(callid) > 200 or callid.strip() != callid:
                        fail(
                            f"line {number}",
                            "has no callid (or one with blanks, or over 200 characters)",
                        )
                        continue
                    state = [t, t, -1, 0, 0, 0, 0, 0, 0, 0, -1, [], [], "", "", "", "", ""]
                    state += [False, t, number]
                    open_calls[callid] = state
                    if dids and (did := dids.pop(callid, None)):
                        state[START] = min(did[0], t)
                        state[DIALED] = did[1]
                        state[FIRST_LINE] = min(did[2], number)
                elif event == "ENTERQUEUE":
                    del finished[callid]
                    open_calls[callid] = state
            if t > state[LAST]:
                state[LAST] = t
            elif t < state[START]:
                state[START] = t
            if event == "ENTERQUEUE":
                state[VISIT_OPEN] = True
                state[VISIT_ENTERED] = t
                if state[ENTERED] < 0 or t < state[ENTERED]:
                    state[ENTERED] = t
                queues = state[QUEUES]
                if (queue := parts[2]) and queue not in queues:
                    queues.append(queue)
                n = len(parts)
                if n > 6 and not state[NUMBER]:
                    state[NUMBER] = parts[6].strip()
                if n > 8 and not state[NAME]:
                    state[NAME] = parts[8].strip()
                continue
            if event == "CONNECT":
                raw = parts[5] if len(parts) > 5 else ""
                # `_seconds`' own first test, inlined: a call for every CONNECT slowed the reader.
                if raw.isdigit() and raw.isascii() and len(raw) < 8:
                    holdtime = int(raw)
                else:
                    try:
                        holdtime = _seconds(raw)
                    except ValueError as exc:
                        fail(f"line {number}", f"{event}: {exc}")
                        continue
                state[WAIT] += holdtime
                if t - holdtime < state[START]:
                    state[START] = max(t - holdtime, 0)
                agent = parts[3]
                if agent and agent not in state[AGENTS]:
                    state[AGENTS].append(agent)
            elif event in ends_visit:
                try:
                    self._end_visit(state, t, event, parts)
                except ValueError as exc:
                    fail(f"line {number}", f"{event}: {exc}")
                    continue
                state[VISIT_OPEN] = False
                if callid in open_calls:
                    del open_calls[callid]
                    finished[callid] = state
                    finished_order.append((t, callid))
                if not hold:
                    out.append(make_call(callid, state))
                continue
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
            else:
                unknown += 1
                continue
            if not hold and callid in finished:
                # A late line of a call already returned: return it again, completed.
                out.append(make_call(callid, state))
        report.lines += count
        report.unknown_events += unknown
        self._latest = latest
        self._drop_stale()
        # Due: calls finished `settle` ago, or the ids and rows a follower keeps a while.
        due = finished_order and finished_order[0][0] < latest - self.settle
        if due or self._forgotten or self._cdr_only:
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

    def _did(self, callid: str, t: int, parts: list[str], number: int) -> None:
        # A DID line ahead of the call's first queue line: kept until that line comes, for a
        # while (most calls that never reach a queue have one too).
        dids = self._dids
        if len(parts) > 5 and callid.strip() == callid and len(callid) <= 200:
            dids.pop(callid, None)
            dids[callid] = (t, parts[5].strip(), number)

    def _drop_stale(self) -> None:
        # Calls that will never end (their last line lost in a crash of Asterisk), and DIDs of
        # calls that never reached a queue: forgotten, oldest first, so the state stays small.
        horizon = self._latest - self.stale
        open_calls = self.open
        while open_calls:
            callid, state = next(iter(open_calls.items()))
            if state[LAST] >= horizon:
                break
            del open_calls[callid]
            self.report.stale_calls += 1
        dids = self._dids
        while dids:
            callid, (t, _, _) = next(iter(dids.items()))
            if t >= self._latest - self.settle:
                break
            del dids[callid]

    def _settled(self) -> list[Any]:
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
                else:
                    # A follower keeps the ids a while longer, so that a late Master.csv row
                    # of a queued call is not taken for a call that never reached a queue;
                    # and forgets the call's rows.
                    self._forgotten[callid] = state[LAST]
                    if self.cdr is not None:
                        self.cdr.calls.pop(callid, None)
            elif state is not None:
                order.append((state[LAST], callid))
        while self._forgotten:
            callid, last = next(iter(self._forgotten.items()))
            if last >= horizon - self.settle:
                break
            del self._forgotten[callid]
        while self._cdr_only and self.cdr is not None:
            key, last = next(iter(self._cdr_only.items()))
            if last >= horizon - self.settle:
                break
            del self._cdr_only[key]
            self.cdr.calls.pop(key, None)
        return out

    def feed_cdr(self, lines: Iterable[Line], *, replay: bool = False) -> list[dict[str, Any]]:
        """A follower's read of more Master.csv rows: the calls they complete (a finished call
        now joined with its rows, or a call that never reached a queue), to store again.

        `replay`: rows read again after a restart, already seen by the follower before it.
        They only join the calls the reader rebuilt: one that joins none belongs to a call
        whose queue_log lines were not read again, or to a call without a queue stored then."""
        if self.cdr is None:
            raise SourceError("cdr", "this reader was made without a Master.csv")
        out = []
        for key in self.cdr.feed(lines):
            if self.hold_finished or key in self.open:
                continue  # an import joins at the end; an open call joins when it finishes
            state = self.finished.get(key)
            if state is not None:
                out.append(self._call(key, state))
            elif key not in self._forgotten:
                # Kept a while: the call's other rows may follow (cdr_csv writes one per leg).
                entry = self.cdr.calls[key]
                self._cdr_only.pop(key, None)
                self._cdr_only[key] = entry[1]
                if not replay:
                    out.append(self._cdr_call(key, entry))
        return out

    def close(self) -> list[Any]:
        """End of the input: the finished calls still held, and the CDR-only calls."""
        out = []
        if self.hold_finished:
            out = [self._call(callid, state) for callid, state in self.finished.items()]
        self.report.open_calls = len(self.open)
        seen = self.finished.keys() | self.open.keys()
        self.finished.clear()
        self._finished_order.clear()
        if self.cdr is not None:
            for key, entry in self.cdr.calls.items():
                if key not in seen:
                    out.append(self._cdr_call(key, entry))
        return out

    def _call(self, callid: str, state: list[Any]) -> Any:
        # Only the fields queue_log can give: the others take the import's empty values.
        call: tuple[Any, ...] = (
            f"{self.server}:{callid}",
            state[START] * 1000,
            (state[LAST] - state[START]) * 1000,
            state[HANDLING] * 1000,
            0,
            state[HOLD] * 1000,
            state[MAX_HOLD] * 1000,
            state[WAIT] * 1000,
            state[ABANDON] * 1000,
            state[TRANSFERS],
            state[HOLDS],
            list(state[QUEUES]),
            list(state[AGENTS]),
            state[NAME],
            state[NUMBER],
            state[DIALED],
            "Inbound",
            "Queued",
            state[HUNGUP],
            state[DESTINATION],
            state[NUMBER],
        )
        self.report.calls += 1
        if self.entered is not None:
            self.entered.append(state[ENTERED])
        if self.cdr is not None:
            # An import returns each call once: its rows are done with (and make no call of
            # their own at the end). A follower keeps them until it forgets the call.
            calls = self.cdr.calls
            cdr = calls.pop(callid, None) if self.hold_finished else calls.get(callid)
            if cdr is not None:
                call = join_cdr(call, state[ENTERED], cdr)
        return call if self.typed else dict(zip(READER_FIELDS, call, strict=True))

    def _cdr_call(self, key: str, entry: list[Any]) -> Any:
        self.report.calls += 1
        call = cdr_call(self.server, key, entry)
        if self.typed:
            return call
        made = dict(EMPTY_CALL)
        made.update(zip(READER_FIELDS, call, strict=True))
        return made


def join_cdr(call: tuple[Any, ...], entered: int, cdr: list[Any]) -> tuple[Any, ...]:
    """A queue_log call (a READER_FIELDS tuple made without Master.csv) joined with its
    Master.csv rows (a `CdrIndex` entry): the rows widen its span, time the IVR before its
    first ENTERQUEUE (`entered`, epoch s, or -1 for none) and name its caller."""
    start = min(call[1], cdr[0] * 1000)
    end = max(call[1] + call[2], cdr[1] * 1000)
    ivr = max(entered - cdr[0], 0) * 1000 if entered >= 0 else 0
    number = cdr[2] or call[14]
    name = _clid_name(cdr[3]) or call[13]
    dialed = call[15] or cdr[4]
    return (call[0], start, end - start, call[3], ivr, *call[5:13], name, number, dialed,
            *call[16:20], number)  # fmt: skip


def cdr_call(server: str, key: str, entry: list[Any]) -> tuple[Any, ...]:
    """The call of Master.csv rows that no queue_log line names (a `CdrIndex` entry): a call
    that never reached a queue, as a READER_FIELDS tuple."""
    start, end, src, clid, dst, outbound, direct, billsec, answered, _ = entry
    duration = (end - start) * 1000
    handling = ivr = 0
    if direct and answered:
        handling = min(billsec, end - start) * 1000
    elif not direct:
        # Answered by the dialplan itself (a menu, a message): all of it is IVR.
        ivr = duration
    if outbound:
        # Dialled by an extension (FreePBX's context for its phones): the far end is the
        # customer.
        name, number, dialed, destination, kind = "", dst, "", dst, "Outbound"
    else:
        name, number, dialed, destination, kind = _clid_name(clid), src, dst, "", "Inbound"
    return (f"{server}:{key}", start * 1000, duration, handling, ivr, 0, 0, 0, 0, 0, 0, "", "",
            name, number, dialed, kind, "No Queue", "", destination, number)  # fmt: skip


FEED_LINES = 10_000
"""The queue_log lines an import's read gives its reader at a time: the calls it returns, and
their order, depend on it (a call is returned once it has settled at the end of a feed)."""


def feeds(lines: Iterable[Line]) -> Iterator[list[Line]]:
    """The lines as an import's read gives them to its reader: FEED_LINES at a time, then what
    is left (perhaps nothing)."""
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) == FEED_LINES:
            yield batch
            batch = []
    yield batch


def block_feeds(blocks: Iterable[Block]) -> Iterator[Block]:
    """`feeds` of a file read in blocks (`file_blocks`): FEED_LINES at a time, then what is left;
    a feed is plain when all of its lines came from plain blocks."""
    pending: list[str] = []
    first, plain = 1, True
    for block in blocks:
        if not pending:
            first, plain = block.first, True
        pending += block.lines
        plain = plain and block.plain
        while len(pending) >= FEED_LINES:
            yield Block(first, pending[:FEED_LINES], plain)
            del pending[:FEED_LINES]
            first += FEED_LINES
            plain = block.plain  # what is left is this block's
    yield Block(first, pending, plain)


_EVENTS = frozenset({"ENTERQUEUE", "CONNECT", "CALLERONHOLD", "CALLEROFFHOLD", "DID"})
# The events that make a call known (with the ends of visits); the others only add to one.
_STARTS = frozenset({"ENTERQUEUE", "CONNECT"})


def read_asterisk(
    queue_log: Iterable[Line],
    *,
    server: str,
    cdr: Iterable[Line] | None = None,
    timezone: str = "UTC",
    cdr_name: str = "Master.csv",
    report: SourceReport | None = None,
    typed: bool = False,
) -> Iterator[Any]:
    """An import's read: every finished call of a queue_log (and Master.csv), once each, as a
    dict in the import shape (or, `typed`, as a READER_FIELDS tuple).

    The reader's report (errors, calls left open, unknown events) is merged into `report`
    once the calls are all out."""
    index = None
    if cdr is not None:
        index = CdrIndex(timezone, cdr_name)
        index.feed(cdr, touched=False)
    reader = QueueLogReader(server, cdr=index, hold_finished=True, typed=typed)
    for batch in feeds(queue_log):
        yield from reader.feed(batch)
    yield from reader.close()
    if report is not None:
        report.merge(reader.report)
        if index is not None:
            report.merge(index.report)
