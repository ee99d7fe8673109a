//! iCalendar (RFC 5545) text for on-call shifts, for calendar subscriptions.
//! Pure and deterministic: no clock and no I/O, so the same shifts always give
//! the same bytes (DTSTAMP is derived from the events, never from `now`).

use super::Shift;
use crate::ids::ScheduleId;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use sha2::{Digest, Sha256};

/// One VEVENT. Text fields are plain text; escaping happens on output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub uid: String,
    pub summary: String,
    pub description: Option<String>,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A complete VCALENDAR holding `events` in the order given, CRLF line endings.
///
/// Every VEVENT's DTSTAMP is the earliest event start: RFC 5545 wants the
/// object's creation time, but a clock reading would make every fetch of an
/// unchanged schedule differ (defeating caching and byte-for-byte tests).
pub fn calendar(name: &str, events: &[Event]) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: &str| push_folded(&mut out, &format!("{name}:{value}"));
    line("BEGIN", "VCALENDAR");
    line("VERSION", "2.0");
    line("PRODID", "-//Escalator//Escalator//EN");
    line("CALSCALE", "GREGORIAN");
    line("METHOD", "PUBLISH");
    line("X-WR-CALNAME", &escape_text(name));
    if let Some(dtstamp) = events.iter().map(|e| e.start).min() {
        let dtstamp = utc(dtstamp);
        for e in events {
            line("BEGIN", "VEVENT");
            line("UID", &escape_text(&e.uid));
            line("DTSTAMP", &dtstamp);
            line("DTSTART", &utc(e.start));
            line("DTEND", &utc(e.end));
            line("SUMMARY", &escape_text(&e.summary));
            if let Some(d) = &e.description {
                line("DESCRIPTION", &escape_text(d));
            }
            line("END", "VEVENT");
        }
    }
    line("END", "VCALENDAR");
    out
}

/// One event per shift: `On call: alice (sre-primary)`, described by its source.
///
/// The UID depends only on the schedule, the user and the shift's start, so a
/// re-published shift whose end moved updates the client's copy instead of
/// duplicating it. It is hashed because RFC 7986 §5.3 asks that UIDs not spell
/// out who they are about, and because slugs joined by a separator could collide.
pub fn shift_events(schedule_id: &ScheduleId, shifts: &[Shift]) -> Vec<Event> {
    shifts
        .iter()
        .map(|s| Event {
            uid: shift_uid(schedule_id, s),
            summary: format!("On call: {} ({schedule_id})", s.user),
            description: Some(s.source.to_string()),
            start: s.start,
            end: s.end,
        })
        .collect()
}

fn shift_uid(schedule_id: &ScheduleId, s: &Shift) -> String {
    let mut h = Sha256::new();
    // NUL cannot occur in an id, so the fields cannot run into each other.
    for part in [
        schedule_id.as_str(),
        s.user.as_str(),
        &s.start.as_second().to_string(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("{}@escalator", &hex::encode(h.finalize())[..32])
}

/// The UTC DATE-TIME form `YYYYMMDDTHHMMSSZ`; sub-second precision has no place in it.
fn utc(t: Timestamp) -> String {
    TimeZone::UTC
        .to_datetime(t)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// A TEXT value (RFC 5545 §3.3.11). Line breaks of any style become `\n`; other
/// control characters are dropped because TEXT has no way to carry them.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Content lines are at most 75 octets (RFC 5545 §3.1); longer ones continue
/// on lines that start with one space, which counts towards the 75.
const MAX_LINE_OCTETS: usize = 75;

/// Appends `line` folded, ending in CRLF. Cuts fall on character boundaries:
/// the RFC only asks readers to rejoin split UTF-8 sequences, and many do not.
fn push_folded(out: &mut String, line: &str) {
    let mut rest = line;
    let mut room = MAX_LINE_OCTETS;
    while rest.len() > room {
        // A char is at most 4 octets and `room` at least 74, so `cut` stays positive.
        let cut = (0..=room)
            .rev()
            .find(|&i| rest.is_char_boundary(i))
            .unwrap_or(room);
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        room = MAX_LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{LayerId, UserId};
    use crate::schedule::Source;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "")
    }

    fn shift(user: &str, start: &str, end: &str, source: Source) -> Shift {
        Shift {
            user: UserId::parse(user).unwrap(),
            start: ts(start),
            end: ts(end),
            source,
        }
    }

    fn weekly() -> Source {
        Source::Layer {
            layer: LayerId::parse("weekly").unwrap(),
        }
    }

    fn sre() -> ScheduleId {
        ScheduleId::parse("sre-primary").unwrap()
    }

    #[test]
    fn folds_long_lines_at_75_octets_without_splitting_characters() {
        // Two- and four-octet characters, placed so naive 75-byte cuts land inside them.
        let line = format!("SUMMARY:{}", "Zoë on call 🚨 für Ünïcödé — ".repeat(12));
        let mut out = String::new();
        push_folded(&mut out, &line);

        assert!(out.ends_with("\r\n"));
        let physical: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(physical.len() > 5);
        for (i, l) in physical.iter().enumerate() {
            assert!(l.len() <= 75, "line {i} has {} octets", l.len());
            assert_eq!(i > 0, l.starts_with(' '), "line {i}: {l:?}");
        }
        // Lines are used to the full: each cut is within one character of the limit.
        let full = &physical[..physical.len() - 1];
        for l in full {
            assert!(l.len() > 75 - 4, "{l:?} wastes room");
        }
        assert!(
            full.iter().any(|l| l.len() < 75),
            "no cut had to move back to a character boundary, so the test proves nothing"
        );
        assert_eq!(unfold(&out), format!("{line}\r\n"));
    }

    #[test]
    fn line_of_exactly_75_octets_is_not_folded_but_76_is() {
        let mut out = String::new();
        push_folded(&mut out, &"x".repeat(75));
        assert_eq!(out, format!("{}\r\n", "x".repeat(75)));

        let mut out = String::new();
        push_folded(&mut out, &"x".repeat(76));
        assert_eq!(out, format!("{}\r\n x\r\n", "x".repeat(75)));
    }

    #[test]
    fn escapes_backslash_semicolon_comma_and_newlines() {
        assert_eq!(
            escape_text("a\\b;c,d\ne\r\nf\rg"),
            "a\\\\b\\;c\\,d\\ne\\nf\\ng"
        );
        assert_eq!(escape_text("tab\there\u{7}bell"), "tab\therebell");
        assert_eq!(escape_text("colon: fine"), "colon: fine");
    }

    #[test]
    fn writes_a_small_calendar_exactly() {
        let shifts = [
            shift(
                "alice",
                "2027-03-01T08:00:00Z",
                "2027-03-08T08:00:00Z",
                weekly(),
            ),
            shift(
                "carol",
                "2027-03-02T12:30:00Z",
                "2027-03-02T18:00:00Z",
                Source::Override {
                    replaces: Some(UserId::parse("bob").unwrap()),
                },
            ),
        ];
        let events = shift_events(&sre(), &shifts);
        let got = calendar("SRE, primary; on call", &events);

        let expected = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Escalator//Escalator//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:SRE\\, primary\\; on call",
            "BEGIN:VEVENT",
            &format!("UID:{}", events[0].uid),
            "DTSTAMP:20270301T080000Z",
            "DTSTART:20270301T080000Z",
            "DTEND:20270308T080000Z",
            "SUMMARY:On call: alice (sre-primary)",
            "DESCRIPTION:layer weekly",
            "END:VEVENT",
            "BEGIN:VEVENT",
            &format!("UID:{}", events[1].uid),
            "DTSTAMP:20270301T080000Z",
            "DTSTART:20270302T123000Z",
            "DTEND:20270302T180000Z",
            "SUMMARY:On call: carol (sre-primary)",
            "DESCRIPTION:override replacing bob",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
        .join("\r\n");
        assert_eq!(got, expected);
        for e in &events {
            assert_eq!(e.uid.len(), 32 + "@escalator".len());
            assert!(e.uid.ends_with("@escalator"));
        }
    }

    #[test]
    fn calendar_without_events_has_only_the_header() {
        assert_eq!(
            calendar("empty", &[]),
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Escalator//Escalator//EN\r\n\
             CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\nX-WR-CALNAME:empty\r\nEND:VCALENDAR\r\n"
        );
    }

    #[test]
    fn same_shifts_give_identical_bytes() {
        let shifts = [shift(
            "alice",
            "2027-03-01T08:00:00.750Z",
            "2027-03-08T08:00:00Z",
            weekly(),
        )];
        let a = calendar("x", &shift_events(&sre(), &shifts));
        let b = calendar("x", &shift_events(&sre(), &shifts.clone()));
        assert_eq!(a, b);
        assert!(a.contains("DTSTART:20270301T080000Z\r\n"), "{a}");
    }

    #[test]
    fn uid_survives_a_moved_end_but_not_another_user_start_or_schedule() {
        let base = shift(
            "alice",
            "2027-03-01T08:00:00Z",
            "2027-03-08T08:00:00Z",
            weekly(),
        );
        let uid = |sched: &ScheduleId, s: &Shift| shift_uid(sched, s);
        let u = uid(&sre(), &base);

        let moved_end = Shift {
            end: ts("2027-03-05T08:00:00Z"),
            ..base.clone()
        };
        assert_eq!(uid(&sre(), &moved_end), u);

        let other_user = Shift {
            user: UserId::parse("bob").unwrap(),
            ..base.clone()
        };
        let other_start = Shift {
            start: ts("2027-03-01T09:00:00Z"),
            ..base.clone()
        };
        let other_schedule = ScheduleId::parse("sre-secondary").unwrap();
        assert_ne!(uid(&sre(), &other_user), u);
        assert_ne!(uid(&sre(), &other_start), u);
        assert_ne!(uid(&other_schedule, &base), u);
    }
}
