//! `dns_mismatch` on the real server against a DNS server of the test's own: Debian's `unbound` on
//! 127.0.0.1 (a free port, no recursion: every other name is refused), serving the records the API
//! shows for one domain (DKIM and DMARC included) and wrong MX and SPF records for another. The
//! wrong domain's alert is seen in status, metrics and the webhook, names the records and what
//! they should be; fixed in the zone (`unbound-control reload`), it clears. A resolver that does
//! not answer is one alert about the resolver.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::monitor::{ADMIN, Webhook, api, attention, metric, monitoring};
use crate::support::{TestServer, have_tool};

/// A port free for both UDP and TCP on 127.0.0.1, as unbound listens on both.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// `unbound` in the foreground with a generated configuration; killed when dropped.
struct Unbound {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Unbound {
    fn config(dir: &Path, port: u16, records: &[String]) -> String {
        let mut zones = String::new();
        for record in records {
            let zone = record.split(' ').next().unwrap();
            // The owner's domain is the zone: the last two labels (`good.test.`).
            let labels: Vec<&str> = zone.trim_end_matches('.').rsplit('.').take(2).collect();
            let zone = format!("{}.{}.", labels[1], labels[0]);
            let line = format!("    local-zone: \"{zone}\" static\n");
            if !zones.contains(&line) {
                zones.push_str(&line);
            }
        }
        let data: String = records
            .iter()
            .map(|r| format!("    local-data: '{}'\n", split_txt(r)))
            .collect();
        let dir = dir.display();
        format!(
            "server:\n    interface: 127.0.0.1\n    port: {port}\n    do-ip6: no\n    \
             do-daemonize: no\n    username: \"\"\n    chroot: \"\"\n    directory: \"{dir}\"\n    \
             pidfile: \"{dir}/unbound.pid\"\n    use-syslog: no\n    logfile: \"{dir}/unbound.log\"\n    \
             verbosity: 1\n    module-config: \"iterator\"\n    access-control: 127.0.0.0/8 allow\n    \
             local-zone: \".\" refuse\n{zones}{data}\
             remote-control:\n    control-enable: yes\n    control-interface: \"{dir}/control.sock\"\n    \
             control-use-cert: no\n"
        )
    }

    fn start(dir: &Path, records: &[String]) -> Unbound {
        let port = free_port();
        let conf = dir.join("unbound.conf");
        std::fs::write(&conf, Self::config(dir, port, records)).unwrap();
        let child = Command::new("unbound")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound starts");
        let unbound = Unbound {
            child,
            dir: dir.to_owned(),
            port,
        };
        unbound.wait_log("start of service", 1);
        unbound
    }

    /// Waits (bounded) until the log has `count` lines containing `what`.
    fn wait_log(&self, what: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = std::fs::read_to_string(self.dir.join("unbound.log")).unwrap_or_default();
            if log.matches(what).count() >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "unbound did not log `{what}` {count} times:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Rewrites the zone data and reloads it in place (same port, no gap).
    fn reload(&self, records: &[String], starts: usize) {
        let conf = self.dir.join("unbound.conf");
        std::fs::write(&conf, Self::config(&self.dir, self.port, records)).unwrap();
        let out = Command::new("unbound-control")
            .arg("-c")
            .arg(&conf)
            .arg("reload")
            .output()
            .expect("unbound-control runs");
        assert!(
            out.status.success(),
            "unbound-control reload: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_log("start of service", starts);
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TXT record's text in strings of at most 255 bytes, as DNS requires (a DKIM key is longer).
fn split_txt(record: &str) -> String {
    let Some((head, text)) = record.split_once(" IN TXT \"") else {
        return record.to_owned();
    };
    let text = text.strip_suffix('"').unwrap();
    let chunks: Vec<String> = text
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", std::str::from_utf8(c).unwrap()))
        .collect();
    format!("{head} IN TXT {}", chunks.join(" "))
}

fn records(server: &TestServer, domain: &str) -> Vec<String> {
    let (status, answer) = api(server, "GET", &format!("domain/{domain}"), None);
    assert_eq!(status, 200, "{answer}");
    ["dns_mx", "dns_spf", "dns_dkim", "dns_dmarc"]
        .iter()
        .filter_map(|k| answer[k].as_str().map(str::to_owned))
        .collect()
}

fn dns_alerts(server: &TestServer) -> Vec<Value> {
    attention(server)
        .into_iter()
        .filter(|a| a["kind"] == "dns_mismatch")
        .collect()
}

#[test]
fn published_dns_records_are_checked_with_the_configured_resolver() {
    if !have_tool("unbound") || !have_tool("unbound-control") {
        return;
    }
    let hook = Webhook::start();
    let server = TestServer::start_env(&[("MAILU_GIT_ADMIN_TOKEN", ADMIN)]);
    for domain in ["good.test", "bad.test"] {
        let (status, answer) = api(
            &server,
            "POST",
            "domain?wait=true",
            Some(json!({ "name": domain })),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = api(&server, "POST", "domain/good.test/dkim?wait=true", None);
    assert_eq!(status, 200, "{answer}");
    let good = records(&server, "good.test");
    assert_eq!(good.len(), 4, "MX, SPF, DKIM, DMARC: {good:?}");
    let bad_needs = records(&server, "bad.test");
    assert_eq!(
        bad_needs.len(),
        2,
        "MX and SPF (no DKIM key): {bad_needs:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let wrong = [
        "bad.test. 600 IN MX 10 mx.elsewhere.example.".to_owned(),
        "bad.test. 600 IN TXT \"v=spf1 -all\"".to_owned(),
    ];
    let published: Vec<String> = good.iter().chain(&wrong).cloned().collect();
    let unbound = Unbound::start(tmp.path(), &published);

    monitoring(
        &server,
        json!({
            "check_every": "1s",
            "dns_check_every": "1s",
            "webhook": hook.url,
            "resolver": format!("127.0.0.1:{}", unbound.port),
        }),
    );
    let raised = hook.wait("raised", "dns_mismatch");
    assert_eq!(raised["subject"], "bad.test", "{raised}");
    let message = raised["message"].as_str().unwrap();
    assert!(
        message.contains("MX differs (published: `10 mx.elsewhere.example.`)")
            && message.contains(&format!("it should be `{}`", bad_needs[0]))
            && message.contains("SPF differs (published: `v=spf1 -all`)")
            && message.contains(&format!("it should be `{}`", bad_needs[1])),
        "{message}"
    );
    let alerts = dns_alerts(&server);
    assert_eq!(alerts.len(), 1, "only bad.test differs: {alerts:?}");
    assert_eq!(alerts[0]["subject"], "bad.test");
    assert_eq!(metric(&server, "dns_mismatch"), "1");

    // The records fixed in the zone: the next check clears the alert.
    let fixed: Vec<String> = good.iter().chain(&bad_needs).cloned().collect();
    unbound.reload(&fixed, 2);
    let cleared = hook.wait("cleared", "dns_mismatch");
    assert_eq!(cleared["subject"], "bad.test", "{cleared}");
    assert!(dns_alerts(&server).is_empty());
    assert_eq!(metric(&server, "dns_mismatch"), "0");
    {
        let received = hook.received.lock().unwrap();
        assert_eq!(
            received.len(),
            2,
            "one raised and one cleared, nothing about the resolver: {received:?}"
        );
    }

    // A resolver that does not answer: one alert about the resolver, naming the setting.
    drop(unbound);
    monitoring(
        &server,
        json!({ "resolver": format!("127.0.0.1:{}", free_port()) }),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let alert = loop {
        if let Some(a) = dns_alerts(&server).into_iter().next() {
            break a;
        }
        assert!(Instant::now() < deadline, "no alert about the resolver");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(alert["subject"], "resolver", "{alert}");
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("monitoring.resolver"),
        "{alert}"
    );
    // No resolver: no DNS check, no alert.
    monitoring(&server, json!({ "resolver": "" }));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dns_alerts(&server).is_empty() {
        assert!(Instant::now() < deadline, "the resolver alert stays");
        std::thread::sleep(Duration::from_millis(200));
    }
}
