use super::*;
use crate::deploy_report::Outcome;

fn report(ok: bool) -> Report {
    Report {
        version: 7,
        time: "2026-11-29T08:00:00Z".into(),
        services: vec![Outcome {
            service: "smtp".into(),
            action: "refresh".into(),
            ok,
            error: (!ok).then(|| "postfix reload: exit 1".into()),
        }],
        incidents: vec![],
    }
}

#[test]
fn each_condition_is_found_and_named() {
    let failed = report(false);
    let inputs = Inputs {
        deploy: Some(&failed),
        not_writable: Some("the journal cannot be written"),
        disk_free: Some(10 << 20),
        ..Inputs::default()
    };
    let found = evaluate(&inputs);
    let kinds: Vec<Kind> = found.iter().map(|f| f.0).collect();
    assert_eq!(
        kinds,
        [Kind::DeployFailed, Kind::NotWritable, Kind::DiskLow]
    );
    assert_eq!(found[0].1, "smtp");
    assert!(
        found[0].2.contains("version 7") && found[0].2.contains("exit 1"),
        "{}",
        found[0].2
    );
    assert!(found[2].2.contains("10 MiB free"), "{}", found[2].2);

    let ok = report(true);
    let fine = Inputs {
        deploy: Some(&ok),
        disk_free: Some(2 << 30),
        ..Inputs::default()
    };
    assert!(evaluate(&fine).is_empty());
}

#[test]
fn a_worker_without_its_engine_is_an_alert_until_it_reports_again() {
    let outage = Report {
        version: 7,
        time: "2026-11-29T08:00:00Z".into(),
        services: vec![],
        incidents: vec!["the Docker engine is unreachable: connection refused".into()],
    };
    let found = evaluate(&Inputs {
        deploy: Some(&outage),
        ..Inputs::default()
    });
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].0, found[0].1.as_str()),
        (Kind::DeployFailed, "worker")
    );
    assert!(found[0].2.contains("connection refused"), "{}", found[0].2);
    // Back: the report of the pass after the reconnect has its actions, all fine.
    let back = Report {
        services: report(true).services,
        incidents: vec!["the Docker engine is back".into()],
        ..outage
    };
    assert!(
        evaluate(&Inputs {
            deploy: Some(&back),
            ..Inputs::default()
        })
        .is_empty()
    );
}

#[test]
fn an_alert_keeps_its_start_and_is_cleared_once() {
    let monitor = Monitor::default();
    let found = |m: &str| vec![(Kind::DiskLow, "data directory".to_owned(), m.to_owned())];
    let first = monitor.update(found("10 MiB"), 100);
    assert_eq!(first.raised.len(), 1);
    assert!(first.cleared.is_empty());
    let again = monitor.update(found("9 MiB"), 160);
    assert_eq!(
        again,
        Changes::default(),
        "a lasting condition is one alert"
    );
    assert_eq!(monitor.current()[0].since, 100);
    assert_eq!(monitor.current()[0].message, "9 MiB");
    let gone = monitor.update(vec![], 220);
    assert_eq!(gone.cleared.len(), 1);
    assert!(monitor.current().is_empty());
    assert!(
        monitor
            .metrics()
            .contains("mailu_git_attention{kind=\"disk_low\"} 0")
    );
}
