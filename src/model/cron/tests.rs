use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn next(expr: &str, after: &str) -> String {
    Schedule::parse(expr)
        .unwrap()
        .next_after(at(after))
        .unwrap()
        .to_rfc3339()
}

#[test]
fn daily_fires_at_the_written_utc_time() {
    assert_eq!(
        next("30 3 * * *", "2025-03-10T01:00:00Z"),
        "2025-03-10T03:30:00+00:00"
    );
    // Strictly after: a time exactly on a firing moves to the next day.
    assert_eq!(
        next("30 3 * * *", "2025-03-10T03:30:00Z"),
        "2025-03-11T03:30:00+00:00"
    );
    // Sub-seconds and seconds are dropped, never kept in the result.
    assert_eq!(
        next("30 3 * * *", "2025-03-10T03:29:59.9Z"),
        "2025-03-10T03:30:00+00:00"
    );
}

#[test]
fn dst_dates_change_nothing_in_utc() {
    // 2025-03-30 is the EU spring-forward day and 2025-10-26 the autumn one: UTC is unaffected.
    assert_eq!(
        next("30 2 * * *", "2025-03-30T00:00:00Z"),
        "2025-03-30T02:30:00+00:00"
    );
    assert_eq!(
        next("30 2 * * *", "2025-10-26T02:30:00Z"),
        "2025-10-27T02:30:00+00:00"
    );
}

#[test]
fn every_fifteen_minutes() {
    let s = Schedule::parse("*/15 * * * *").unwrap();
    let mut t = at("2025-01-01T10:07:00Z");
    let mut got = Vec::new();
    for _ in 0..5 {
        t = s.next_after(t).unwrap();
        got.push(t.format("%H:%M").to_string());
    }
    assert_eq!(got, ["10:15", "10:30", "10:45", "11:00", "11:15"]);
    assert_eq!(s.to_scheduler(), ["0 0,15,30,45 * * * *"]);
}

#[test]
fn both_day_fields_restricted_means_either() {
    // The 1st of the month OR any Monday (Vixie cron's rule).
    let s = Schedule::parse("0 0 1 * mon").unwrap();
    // 2025-09-01 is a Monday, 2025-09-08 the next Monday, 2025-10-01 a Wednesday.
    assert_eq!(
        next("0 0 1 * mon", "2025-08-31T12:00:00Z"),
        "2025-09-01T00:00:00+00:00"
    );
    assert_eq!(
        next("0 0 1 * mon", "2025-09-01T00:00:00Z"),
        "2025-09-08T00:00:00+00:00"
    );
    assert_eq!(
        next("0 0 1 * mon", "2025-09-29T00:00:00Z"),
        "2025-10-01T00:00:00+00:00"
    );
    // tokio-cron-scheduler ANDs the two fields, so the OR becomes two expressions.
    assert_eq!(s.to_scheduler(), ["0 0 0 1 * *", "0 0 0 * * 1"]);
}

#[test]
fn a_star_day_field_means_both() {
    // Day-of-month starts with `*`: Vixie ANDs, so only odd days that are Mondays.
    let s = Schedule::parse("0 0 */2 * mon").unwrap();
    // 2025-09-01 Monday (odd): yes; 2025-09-08 Monday (even): no; 2025-09-15 Monday (odd): yes.
    let first = s.next_after(at("2025-08-31T00:00:00Z")).unwrap();
    assert_eq!(first, at("2025-09-01T00:00:00Z"));
    assert_eq!(s.next_after(first).unwrap(), at("2025-09-15T00:00:00Z"));
    assert_eq!(s.to_scheduler().len(), 1);
    // Day-of-week is `*`: only the day of month counts.
    assert_eq!(
        next("0 4 15 * *", "2025-02-16T00:00:00Z"),
        "2025-03-15T04:00:00+00:00"
    );
    assert_eq!(
        Schedule::parse("0 4 * * 0").unwrap().to_scheduler(),
        ["0 0 4 * * 0"]
    );
}

#[test]
fn leap_day() {
    assert_eq!(
        next("0 12 29 2 *", "2025-01-01T00:00:00Z"),
        "2028-02-29T12:00:00+00:00"
    );
    assert_eq!(
        next("0 12 29 feb *", "2028-02-29T12:00:00Z"),
        "2032-02-29T12:00:00+00:00"
    );
    // Impossible dates are refused at parse time rather than never firing.
    assert!(matches!(
        Schedule::parse("0 0 31 2 *"),
        Err(Error::Never(_))
    ));
    assert!(matches!(
        Schedule::parse("0 0 30 feb *"),
        Err(Error::Never(_))
    ));
}

#[test]
fn names_ranges_lists_and_sunday_seven() {
    let s = Schedule::parse("0 9 * JAN-mar,dec Mon-Fri").unwrap();
    assert_eq!(s.to_scheduler(), ["0 0 9 * 1-3,12 1-5"]);
    // 2025-01-04 is a Saturday.
    assert_eq!(
        next("0 9 * jan-mar,dec mon-fri", "2025-01-04T00:00:00Z"),
        "2025-01-06T09:00:00+00:00"
    );
    // 7 and 0 are both Sunday; 2025-01-05 is a Sunday.
    assert_eq!(
        next("0 9 * * 7", "2025-01-01T00:00:00Z"),
        "2025-01-05T09:00:00+00:00"
    );
    assert_eq!(
        Schedule::parse("0 9 * * 5-7").unwrap().to_scheduler(),
        ["0 0 9 * * 0,5-6"]
    );
    assert_eq!(
        Schedule::parse("0-30/10 1,2 * * *").unwrap().to_scheduler(),
        ["0 0,10,20,30 1-2 * * *"]
    );
}

#[test]
fn macros() {
    assert_eq!(
        Schedule::parse("@daily").unwrap().to_scheduler(),
        ["0 0 0 * * *"]
    );
    assert_eq!(
        Schedule::parse("@weekly").unwrap().to_scheduler(),
        ["0 0 0 * * 0"]
    );
    assert_eq!(
        next("@monthly", "2025-01-15T00:00:00Z"),
        "2025-02-01T00:00:00+00:00"
    );
    assert_eq!(Schedule::parse(" @hourly ").unwrap().as_str(), "@hourly");
    assert!(matches!(Schedule::parse("@reboot"), Err(Error::Macro(_))));
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |e: &str| Schedule::parse(e).unwrap_err().to_string();
    assert!(
        err("0 30 3 * * *").contains("has 6 fields"),
        "{}",
        err("0 30 3 * * *")
    );
    assert!(err("0 30 3 * * * 2025").contains("has 7 fields"));
    assert!(err("").contains("has 0 fields"));
    assert!(err("60 * * * *").contains("minute field `60`: 60 is outside 0-59"));
    assert!(err("* 24 * * *").contains("hour field"));
    assert!(err("* * 0 * *").contains("day-of-month field `0`"));
    assert!(err("* * * 13 * ").contains("month field"));
    assert!(err("* * * * 8").contains("day-of-week field"));
    assert!(err("* * * * monday").contains("not a number or a name"));
    assert!(err("*/0 * * * *").contains("step must be at least 1"));
    assert!(err("5/10 * * * *").contains("a step needs `*` or a range"));
    assert!(err("30-10 * * * *").contains("runs backwards"));
    assert!(err("1,,2 * * * *").contains("an empty value"));
    assert!(err("? * * * *").contains("is not a number"));
    assert!(err("* * L * *").contains("day-of-month field `L`"));
}

#[test]
fn serde_keeps_the_written_text() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct T {
        at: Schedule,
    }
    let t: T = toml::from_str("at = \"0 4 * * SUN\"").unwrap();
    assert_eq!(toml::to_string(&t).unwrap(), "at = \"0 4 * * SUN\"\n");
    let bad = toml::from_str::<T>("at = \"0 4 * *\"")
        .err()
        .unwrap()
        .to_string();
    assert!(bad.contains("has 4 fields"), "{bad}");
}

/// The expressions given to tokio-cron-scheduler, parsed the way it parses them (croner, seconds
/// required, day fields ANDed), fire at exactly the times `next_after` computes.
#[test]
fn scheduler_form_agrees_with_next_after() {
    use croner::parser::{CronParser, Seconds};
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .dom_and_dow(true)
        .build();
    for expr in [
        "30 3 * * *",
        "0 4 * * 0",
        "0 0 1 * mon",
        "0 0 */2 * mon",
        "*/15 9-17 * * mon-fri",
        "5 0 13 * fri",
        "0 12 29 2 *",
        "0 6 1,15 jan,jul 7",
    ] {
        let ours = Schedule::parse(expr).unwrap();
        let crons: Vec<_> = ours
            .to_scheduler()
            .iter()
            .map(|e| parser.parse(e).unwrap())
            .collect();
        let mut t = at("2024-01-01T00:00:00Z");
        for _ in 0..40 {
            let expected = ours.next_after(t).unwrap();
            let theirs = crons
                .iter()
                .map(|c| c.find_next_occurrence(&t, false).unwrap())
                .min()
                .unwrap();
            assert_eq!(theirs, expected, "{expr} after {t}");
            t = expected;
        }
    }
}
