// Every occurrence of every VEVENT in iCalendar files, as ical.js (Thunderbird's parser) reads them.
//
//   node expand.mjs FROM TO FILE...
//
// FROM and TO are UTC instants (2017-01-01T00:00:00Z). Prints one JSON object:
// {file: {uid: [[start, end], ...]}}, occurrences whose start is in [FROM, TO), in
// order. A timed start or end is the UTC instant (2018-01-15T09:00:00Z); an all-day
// one is its date (2018-04-30), since a date has no instant. Time zones come only
// from the VTIMEZONE components in each file: ical.js has no database of its own,
// so this is the test of what duly writes. Run with TZ=UTC, so that a TZID left
// without a VTIMEZONE (read as floating, i.e. local) shows up as wrong, not as lucky.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const LIMIT = 10000;
const [from, to, ...files] = process.argv.slice(2);
if (!from || !to || files.length === 0) {
  process.stderr.write("usage: node expand.mjs FROM TO FILE...\n");
  process.exit(2);
}
const lo = Date.parse(from);
const hi = Date.parse(to);

function show(time) {
  if (time.isDate) {
    return time.toString();
  }
  return new Date(time.toUnixTime() * 1000).toISOString().replace(".000Z", "Z");
}

function inWindow(time) {
  // An all-day start is compared by its date, a timed one by its instant.
  const ms = time.isDate ? Date.parse(time.toString() + "T00:00:00Z") : time.toUnixTime() * 1000;
  if (ms >= hi) return 1;
  return ms < lo ? -1 : 0;
}

const out = {};
for (const file of files) {
  const root = new ICAL.Component(ICAL.parse(readFileSync(file, "utf8")));
  const events = {};
  for (const component of root.getAllSubcomponents("vevent")) {
    const event = new ICAL.Event(component);
    const seen = (events[event.uid] = events[event.uid] || []);
    const iterator = event.iterator();
    for (let next = iterator.next(), n = 0; next && n < LIMIT; next = iterator.next(), n++) {
      const details = event.getOccurrenceDetails(next);
      const where = inWindow(details.startDate);
      if (where > 0) break;
      if (where === 0) seen.push([show(details.startDate), show(details.endDate)]);
    }
  }
  out[file] = events;
}
process.stdout.write(JSON.stringify(out) + "\n");
