#!/usr/bin/env python3
"""Checks an Escalator .ics export with an independent parser (PyPI `icalendar`).

Usage: ical_roundtrip.py CALENDAR.ics EXPECTED.json

EXPECTED.json holds the shifts the calendar must contain, in any order:
    [{"user": "alice", "start": "2027-03-01T08:00:00Z", "end": "..."}, ...]
Each VEVENT gives (user from SUMMARY "On call: USER (...)", DTSTART, DTEND in
UTC). Exit 0 when both sides hold exactly the same shifts (duplicates count),
1 with a diff when they differ or the file breaks RFC 5545 line rules, 2 on
bad usage or an unreadable expectation file.

Times compare at whole seconds: iCalendar DATE-TIME has no fractions, so a
fractional RFC 3339 time in the expectation is truncated, as the writer does.
"""

import json
import re
import sys
from collections import Counter
from datetime import datetime, timezone

try:
    from icalendar import Calendar
except ImportError:
    sys.exit("ical_roundtrip: needs the `icalendar` package (pip install icalendar)")

SUMMARY = re.compile(r"^On call: (\S+) \(.*\)$")
RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
MAX_LINE_OCTETS = 75


def fail_usage(message):
    print(f"ical_roundtrip: {message}", file=sys.stderr)
    sys.exit(2)


def parse_rfc3339(text):
    """An aware UTC datetime, truncated to the second; None if not RFC 3339."""
    m = RFC3339.match(text) if isinstance(text, str) else None
    if not m:
        return None
    offset = "+00:00" if m.group(2) in ("Z", "z") else m.group(2)
    # fromisoformat only accepts "Z" and long fractions from Python 3.11 on.
    return datetime.fromisoformat(m.group(1) + offset).astimezone(timezone.utc)


def load_expected(path):
    try:
        with open(path, encoding="utf-8") as f:
            rows = json.load(f)
    except (OSError, ValueError) as e:
        fail_usage(f"cannot read {path}: {e}")
    if not isinstance(rows, list):
        fail_usage(f"{path}: expected a JSON array of shifts")
    shifts = Counter()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("user"), str):
            fail_usage(f"{path}[{i}]: needs a string \"user\"")
        start, end = parse_rfc3339(row.get("start")), parse_rfc3339(row.get("end"))
        if start is None or end is None:
            fail_usage(f"{path}[{i}]: \"start\" and \"end\" must be RFC 3339 with an offset")
        shifts[(row["user"], start, end)] += 1
    return shifts


def line_problems(raw):
    """RFC 5545 §3.1 rules that lenient parsers (icalendar included) let pass."""
    problems = []
    lines = raw.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()
    else:
        problems.append("the last line does not end with CRLF")
    for n, line in enumerate(lines, start=1):
        if b"\n" in line or b"\r" in line:
            problems.append(f"line {n}: bare LF or CR; lines must end with CRLF")
        if len(line) > MAX_LINE_OCTETS:
            problems.append(f"line {n}: {len(line)} octets, more than {MAX_LINE_OCTETS}")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"line {n}: not valid UTF-8 on its own (a character split by folding)")
    return problems


def as_utc(value, what):
    """DTSTART/DTEND must be a DATE-TIME pinned to UTC, not a DATE or floating time."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None, f"{what} is {value!r}, not a UTC date-time"
    return value.astimezone(timezone.utc), None


def load_calendar(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        fail_usage(f"cannot read {path}: {e}")
    problems = line_problems(raw)
    try:
        cal = Calendar.from_ical(raw)
    except ValueError as e:
        return Counter(), problems + [f"icalendar cannot parse it: {e}"]
    shifts = Counter()
    for n, event in enumerate(cal.walk("VEVENT"), start=1):
        summary = str(event.get("SUMMARY", ""))
        m = SUMMARY.match(summary)
        if not m:
            problems.append(f"VEVENT {n}: SUMMARY {summary!r} is not 'On call: USER (...)'")
            continue
        times = []
        for prop in ("DTSTART", "DTEND"):
            if prop not in event:
                problems.append(f"VEVENT {n}: no {prop}")
                break
            value, problem = as_utc(event.decoded(prop), prop)
            if problem:
                problems.append(f"VEVENT {n}: {problem}")
                break
            times.append(value)
        else:
            shifts[(m.group(1), times[0], times[1])] += 1
    return shifts, problems


def show(shift):
    user, start, end = shift
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return f"{user:<16} {start.strftime(fmt)} .. {end.strftime(fmt)}"


def main(argv):
    if len(argv) != 3:
        fail_usage("usage: ical_roundtrip.py CALENDAR.ics EXPECTED.json")
    ics_path, json_path = argv[1], argv[2]
    expected = load_expected(json_path)
    found, problems = load_calendar(ics_path)
    missing = expected - found
    unexpected = found - expected
    if not (problems or missing or unexpected):
        print(f"ical_roundtrip: ok, {sum(found.values())} shifts match ({ics_path})")
        return 0
    print(
        f"ical_roundtrip: {ics_path} does not match {json_path} "
        f"({sum(expected.values())} expected, {sum(found.values())} found)"
    )
    for p in problems:
        print(f"  problem: {p}")
    for title, diff in (
        ("missing (expected, not in the calendar)", missing),
        ("unexpected (in the calendar, not expected)", unexpected),
    ):
        if diff:
            print(f"{title}:")
            for shift in sorted(diff.elements()):
                print(f"  - {show(shift)}" if diff is missing else f"  + {show(shift)}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
