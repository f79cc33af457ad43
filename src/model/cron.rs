//! [`Schedule`]: a cron expression in the usual 5-field form (`minute hour day-of-month month
//! day-of-week`), as an operator writes it in `mailu.toml`, with its meaning pinned down.
//!
//! Semantics (also in `docs/settings.md`):
//! - **Timezone: UTC.** `30 3 * * *` fires at 03:30 UTC every day. UTC has no daylight saving time, so
//!   every time written happens exactly once a day: no skipped hour in spring, no doubled one in autumn.
//!   The `system.tz` setting only sets the containers' clocks for their logs; it does not move schedules.
//! - **Day-of-month and day-of-week: Vixie cron's rule.** When both fields are restricted (neither starts
//!   with `*`), a day matches if EITHER matches (`0 0 1 * mon` is the 1st of each month and every Monday);
//!   otherwise both must match (so `* * * * mon` is every Monday and `0 0 */2 * mon` is odd-numbered
//!   days that are Mondays, as in Vixie cron).
//!
//! This module does not run anything: the scheduler loop calls [`Schedule::next_after`], or hands
//! [`Schedule::to_scheduler`]'s expressions to tokio-cron-scheduler.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use std::fmt;

/// Why an expression was refused. Messages name the field and the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "`{expr}` has {count} fields; a schedule has 5 (minute hour day-of-month month day-of-week), without seconds or year"
    )]
    FieldCount { expr: String, count: usize },
    #[error(
        "`{0}` is not a supported macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
    )]
    Macro(String),
    #[error("{field} field `{text}`: {reason}")]
    Field {
        field: &'static str,
        text: String,
        reason: String,
    },
    #[error("`{0}` never fires: no date in the calendar matches its day and month fields")]
    Never(String),
}

/// One field of the expression: its name (for messages), its value range and, for months and
/// weekdays, the names it accepts (index = value).
struct FieldSpec {
    name: &'static str,
    min: u8,
    max: u8,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
// 7 is Sunday too, as in Vixie cron; it is folded onto 0 after parsing.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// A parsed 5-field cron expression. Serialized as the text the operator wrote (trimmed), so a
/// written-back file shows what was typed; compared by that text.
#[derive(Debug, Clone)]
pub struct Schedule {
    source: String,
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    days_of_month: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, Sunday = 0.
    days_of_week: u8,
    /// Vixie's DOM_STAR / DOW_STAR: the field starts with `*`, so it does not restrict by itself.
    dom_star: bool,
    dow_star: bool,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Schedule {}

impl Schedule {
    /// Parses `minute hour day-of-month month day-of-week`, or one of the macros `@yearly`,
    /// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
    /// Each field is a comma list of `*`, `N`, `A-B`, each optionally `/STEP` (`*/15`, `1-30/2`);
    /// months and weekdays also take names (`jan`, `mon-fri`), case-insensitively.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let source = raw.trim().to_owned();
        let expanded = match source.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            m if m.starts_with('@') => return Err(Error::Macro(source)),
            _ => source.as_str(),
        }
        .to_owned();
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(Error::FieldCount {
                expr: source,
                count: fields.len(),
            });
        };
        let mut days_of_week = parse_field(dow, &DAY_OF_WEEK)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        let schedule = Schedule {
            minutes: parse_field(minute, &MINUTE)?,
            hours: u32::try_from(parse_field(hour, &HOUR)?).expect("hours fit in 24 bits"),
            days_of_month: u32::try_from(parse_field(dom, &DAY_OF_MONTH)?)
                .expect("days fit in 32 bits"),
            months: u16::try_from(parse_field(month, &MONTH)?).expect("months fit in 13 bits"),
            days_of_week: u8::try_from(days_of_week).expect("weekdays fit in 7 bits"),
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
            source,
        };
        // The Gregorian calendar repeats every 400 years, so a schedule that finds nothing in that
        // span (e.g. `0 0 31 2 *`) never fires; refuse it rather than scheduling nothing silently.
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1)
            .expect("a valid date")
            .and_time(NaiveTime::MIN)
            .and_utc();
        if schedule.next_after(epoch).is_none() {
            return Err(Error::Never(schedule.source));
        }
        Ok(schedule)
    }

    /// The expression as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether a day matches, by Vixie's rule (see the module doc).
    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first firing time strictly after `t` (whole minutes, UTC), or `None` if there is none in
    /// the next 400 years (cannot happen for a parsed schedule, kept total for safety).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = t
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .map(|t| t + Duration::minutes(1))?;
        let mut date = start.date_naive();
        let (mut from_hour, mut from_minute) = (start.hour(), start.minute());
        let limit = date.checked_add_signed(Duration::days(400 * 366))?;
        while date < limit {
            if self.months & (1 << date.month()) == 0 {
                // Jump to the first day of the next month: no day of this one can match.
                let (y, m) = if date.month() == 12 {
                    (date.year() + 1, 1)
                } else {
                    (date.year(), date.month() + 1)
                };
                date = NaiveDate::from_ymd_opt(y, m, 1)?;
                (from_hour, from_minute) = (0, 0);
                continue;
            }
            if self.day_matches(date) {
                for hour in from_hour..24 {
                    if self.hours & (1 << hour) == 0 {
                        continue;
                    }
                    let first_minute = if hour == from_hour { from_minute } else { 0 };
                    if let Some(minute) = (first_minute..60).find(|m| self.minutes & (1 << m) != 0)
                    {
                        let time = NaiveTime::from_hms_opt(hour, minute, 0)?;
                        return Some(date.and_time(time).and_utc());
                    }
                }
            }
            date = date.succ_opt()?;
            (from_hour, from_minute) = (0, 0);
        }
        None
    }

    /// The expression(s) for tokio-cron-scheduler (6 fields, seconds first, Sunday = 0), to be used
    /// with a UTC job (`Job::new_async`, not `new_tz`). That crate ANDs day-of-month and day-of-week
    /// (croner's `dom_and_dow`), so where Vixie's rule ORs them this returns two expressions, one per
    /// day field, whose union is the schedule. On a day matching both, the two jobs fire at the same
    /// instant: the job must tolerate running twice (gc does: the second run finds nothing to do), or
    /// the caller should loop on [`Schedule::next_after`] instead.
    pub fn to_scheduler(&self) -> Vec<String> {
        let minute = render_field(self.minutes, MINUTE.min, MINUTE.max);
        let hour = render_field(u64::from(self.hours), HOUR.min, HOUR.max);
        let dom = render_field(u64::from(self.days_of_month), 1, 31);
        let month = render_field(u64::from(self.months), 1, 12);
        let dow = render_field(u64::from(self.days_of_week), 0, 6);
        if self.dom_star || self.dow_star {
            vec![format!("0 {minute} {hour} {dom} {month} {dow}")]
        } else {
            vec![
                format!("0 {minute} {hour} {dom} {month} *"),
                format!("0 {minute} {hour} * {month} {dow}"),
            ]
        }
    }
}

/// Parses one field into a bit set (bit N = value N allowed).
fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, Error> {
    let fail = |reason: String| Error::Field {
        field: spec.name,
        text: text.to_owned(),
        reason,
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u8 = step
                    .parse()
                    .map_err(|_| fail(format!("step `{step}` is not a number")))?;
                if step == 0 {
                    return Err(fail("a step must be at least 1".into()));
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let (low, high) = if range == "*" {
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (
                value(a, spec).map_err(&fail)?,
                value(b, spec).map_err(&fail)?,
            );
            if a > b {
                return Err(fail(format!("range `{range}` runs backwards")));
            }
            (a, b)
        } else {
            if step.is_some() {
                let (s, max) = (step.unwrap_or(1), spec.max);
                return Err(fail(format!(
                    "`{item}`: a step needs `*` or a range before it, e.g. `*/{s}` or `{range}-{max}/{s}`"
                )));
            }
            let v = value(range, spec).map_err(&fail)?;
            (v, v)
        };
        let step = usize::from(step.unwrap_or(1));
        for v in (low..=high).step_by(step) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

/// One value of a field: a number in range, or a name the field accepts.
fn value(text: &str, spec: &FieldSpec) -> Result<u8, String> {
    if text.is_empty() {
        return Err("an empty value".into());
    }
    if let Some(pos) = spec
        .names
        .iter()
        .position(|n| !n.is_empty() && n.eq_ignore_ascii_case(text))
    {
        return Ok(u8::try_from(pos).expect("fewer than 256 names"));
    }
    let v: u8 = text.parse().map_err(|_| {
        if spec.names.is_empty() {
            format!("`{text}` is not a number")
        } else {
            format!(
                "`{text}` is not a number or a name ({})",
                spec.names.join(", ").trim_start_matches(", ")
            )
        }
    })?;
    if v < spec.min || v > spec.max {
        return Err(format!("{v} is outside {}-{}", spec.min, spec.max));
    }
    Ok(v)
}

/// Renders a bit set as `*` (every value), or a comma list of values and `A-B` runs.
fn render_field(bits: u64, min: u8, max: u8) -> String {
    let all = (min..=max).all(|v| bits & (1 << v) != 0);
    if all {
        return "*".into();
    }
    let mut parts = Vec::new();
    let mut v = min;
    while v <= max {
        if bits & (1 << v) == 0 {
            v += 1;
            continue;
        }
        let start = v;
        while v < max && bits & (1 << (v + 1)) != 0 {
            v += 1;
        }
        parts.push(if start == v {
            start.to_string()
        } else {
            format!("{start}-{v}")
        });
        v += 1;
    }
    parts.join(",")
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Schedule::parse(s)
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> serde::Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Schedule::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "cron/tests.rs"]
mod tests;
