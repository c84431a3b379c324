"""Every occurrence of every VEVENT in iCalendar files, as libical (used by Evolution) reads them.

Run with the system Python, which has the GObject bindings of libical
(``tests/clients/install.sh`` installs them)::

    python3 expand_libical.py FROM TO FILE...

FROM and TO are UTC instants (``2017-01-01T00:00:00Z``). Prints one JSON object,
``{file: {uid: [[start, end], ...]}}``, with the occurrences whose start is in
``[FROM, TO)``, in order: a timed start or end as its UTC instant
(``2018-01-15T09:00:00Z``), an all-day one as its date (``2018-04-30``), exactly as
``expand.mjs`` prints what ical.js reads. A TZID is resolved the way libical
resolves it for Evolution: from the file's own VTIMEZONE first. Occurrences come
from libical's RRULE iterator (every RRULE) and from the RDATEs; the end of each
is its start plus the event's length (DTEND - DTSTART), in seconds for a timed
event and in days for an all-day one. EXDATE is not read: duly writes none.

The GObject import is inside :func:`main`, so the test suite can import this
file (its doctest collection does) with a Python that lacks the bindings.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from typing import Any

LIMIT = 10_000


def _instant(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(t: Any) -> date:
    return date(t.get_year(), t.get_month(), t.get_day())


def expand(text: str, lo: datetime, hi: datetime) -> dict[str, list[list[str]]]:
    """The occurrences of each UID in one iCalendar text, start in ``[lo, hi)``."""
    import gi

    gi.require_version("ICalGLib", "3.0")
    from gi.repository import ICalGLib as ical

    root = ical.Component.new_from_string(text)
    if root is None:
        raise ValueError("libical could not parse the file")
    events: dict[str, list[list[str]]] = {}
    event = root.get_first_component(ical.ComponentKind.VEVENT_COMPONENT)
    while event is not None:
        start, end = event.get_dtstart(), event.get_dtend()
        zone = start.get_timezone()  # None for a date, a floating time, or UTC

        def key(t: Any, zone: Any = zone) -> datetime:
            if t.is_date():
                return datetime(t.get_year(), t.get_month(), t.get_day(), tzinfo=UTC)
            return datetime.fromtimestamp(t.as_timet_with_zone(zone), UTC)

        found: dict[datetime, Any] = {}
        rule = event.get_first_property(ical.PropertyKind.RRULE_PROPERTY)
        if rule is None:
            found[key(start)] = start
        while rule is not None:  # every RRULE, as Evolution reads them
            iterator = ical.RecurIterator.new(rule.get_rrule(), start)
            for _ in range(LIMIT):
                t = iterator.next()
                if t is None or t.is_null_time() or key(t) >= hi:
                    break
                found[key(t)] = t
            rule = event.get_next_property(ical.PropertyKind.RRULE_PROPERTY)
        extra = event.get_first_property(ical.PropertyKind.RDATE_PROPERTY)
        while extra is not None:
            t = extra.get_rdate().get_time()
            tzid = extra.get_parameter_as_string("TZID")
            found[key(t, root.get_timezone(tzid) if tzid else None)] = t
            extra = event.get_next_property(ical.PropertyKind.RDATE_PROPERTY)
        seen = events.setdefault(event.get_uid(), [])
        for moment in sorted(found):
            if not lo <= moment < hi:
                continue
            if start.is_date():
                day = _day(found[moment])
                seen.append([day.isoformat(), (day + (_day(end) - _day(start))).isoformat()])
            else:
                length = end.as_timet_with_zone(end.get_timezone()) - start.as_timet_with_zone(
                    zone
                )
                seconds = int(moment.timestamp())
                seen.append([_instant(seconds), _instant(seconds + length)])
        event = root.get_next_component(ical.ComponentKind.VEVENT_COMPONENT)
    return events


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python3 expand_libical.py FROM TO FILE...", file=sys.stderr)
        return 2
    lo, hi = (datetime.fromisoformat(a.replace("Z", "+00:00")) for a in argv[:2])
    out = {}
    for path in argv[2:]:
        with open(path, encoding="utf-8") as handle:
            out[path] = expand(handle.read(), lo, hi)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
