//! `dns_mismatch`: each domain's published MX, SPF, DKIM and DMARC records, asked of the resolver
//! the admin configures (`[monitoring] resolver`, and only that one: no system configuration, no
//! hosts file), compared with what the domain needs, which is the text the API shows as its
//! `dns_*` records ([`crate::model::dns::records`]).
//!
//! What counts as published: MX, a record whose exchange is the primary host name (any
//! preference); SPF, DKIM and DMARC, a TXT record at the name with exactly the expected text
//! (white space between terms aside; TXT strings split in chunks are joined). DKIM and DMARC are
//! checked only when the API shows them (the domain has a DKIM key). A resolver that does not
//! answer is one alert about the resolver, not one per domain.
//!
//! Queries are bounded: three seconds each, one retry, at most [`PARALLEL`] at a time, and the
//! first that gets no answer ends the check.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use super::{Found, Kind};
use crate::model::{Config, DomainName};

/// Queries in flight at once.
pub const PARALLEL: usize = 8;
/// How long one query may take, per attempt.
const TIMEOUT: Duration = Duration::from_secs(3);

/// One record a domain needs: which one (for messages), the name, its type, and the text the
/// API shows (`dns_*`), whose data part is what must be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub what: &'static str,
    pub name: String,
    pub rtype: RecordType,
    /// The data: for MX the exchange host name, for TXT the text without quotes.
    pub data: String,
    /// The whole record as the API shows it.
    pub shown: String,
}

/// What the domains of `config` need, domain by domain, in a stable order.
pub fn wanted(config: &Config) -> Vec<(DomainName, Vec<Wanted>)> {
    config
        .domains
        .keys()
        .map(|domain| {
            let records = crate::model::dns::records(config, domain, None);
            let wanted = [
                ("MX", records.dns_mx),
                ("SPF", records.dns_spf),
                ("DKIM", records.dns_dkim),
                ("DMARC", records.dns_dmarc),
            ]
            .into_iter()
            .filter_map(|(what, shown)| parse(what, &shown?))
            .collect();
            (domain.clone(), wanted)
        })
        .collect()
}

/// `name. ttl IN TYPE data` as `dns.rs` writes it.
fn parse(what: &'static str, shown: &str) -> Option<Wanted> {
    let mut parts = shown.splitn(5, ' ');
    let name = parts.next()?.to_owned();
    let (_ttl, _class) = (parts.next()?, parts.next()?);
    let (rtype, data) = match (parts.next()?, parts.next()?) {
        ("MX", data) => (RecordType::MX, data.split_once(' ')?.1.to_owned()),
        ("TXT", data) => (
            RecordType::TXT,
            data.strip_prefix('"')?.strip_suffix('"')?.to_owned(),
        ),
        _ => return None,
    };
    Some(Wanted {
        what,
        name,
        rtype,
        data,
        shown: shown.to_owned(),
    })
}

/// `[monitoring] resolver`: `IP` (port 53) or `IP:PORT`.
pub fn parse_resolver(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// A resolver that asks `server` only, over UDP then TCP, and caches nothing between checks (a
/// new one is made for each check, so a fixed record is seen at the next check).
fn resolver(server: SocketAddr) -> Result<TokioResolver, NetError> {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    let config = ResolverConfig::from_parts(
        None,
        Vec::new(),
        vec![NameServerConfig::new(server.ip(), true, vec![udp, tcp])],
    );
    let mut opts = ResolverOpts::default();
    opts.timeout = TIMEOUT;
    opts.attempts = 1;
    opts.ndots = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.cache_size = 0;
    Resolver::builder_with_config(config, TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
}

/// What `name` publishes of `rtype`: MX exchanges, or TXT texts. No record (or no name) is an
/// empty list; a resolver that does not answer is an error.
async fn published(
    resolver: &TokioResolver,
    name: &str,
    rtype: RecordType,
) -> Result<Vec<String>, NetError> {
    let lookup = match resolver.lookup(name, rtype).await {
        Ok(lookup) => lookup,
        Err(err) if err.is_no_records_found() || err.is_nx_domain() => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    Ok(lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::MX(mx) => Some(format!("{} {}", mx.preference, mx.exchange)),
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|chunk| String::from_utf8_lossy(chunk))
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect())
}

fn same_text(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Whether `published` has what `wanted` needs.
pub fn matches(wanted: &Wanted, published: &[String]) -> bool {
    match wanted.rtype {
        RecordType::MX => published.iter().any(|mx| {
            mx.split_once(' ')
                .is_some_and(|(_, host)| same_host(host, &wanted.data))
        }),
        _ => published.iter().any(|txt| same_text(txt, &wanted.data)),
    }
}

/// One line for a record that differs: what is published and what it should be.
fn differs(wanted: &Wanted, published: &[String]) -> String {
    let relevant: Vec<&String> = match wanted.rtype {
        RecordType::MX => published.iter().collect(),
        // Only the TXT records of the same kind (`v=spf1`, `v=DKIM1`, `v=DMARC1`).
        _ => {
            let tag = wanted.data.split([' ', ';']).next().unwrap_or_default();
            published
                .iter()
                .filter(|t| t.split([' ', ';']).next() == Some(tag))
                .collect()
        }
    };
    let now = if relevant.is_empty() {
        "none is published".to_owned()
    } else {
        format!(
            "published: {}",
            relevant
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "{} differs ({now}); it should be `{}`",
        wanted.what, wanted.shown
    )
}

/// The check: one `dns_mismatch` per domain whose records differ, its message naming each record;
/// or one about the resolver if it does not answer.
pub async fn check(server: SocketAddr, domains: &[(DomainName, Vec<Wanted>)]) -> Vec<Found> {
    let resolver = match resolver(server) {
        Ok(r) => r,
        Err(err) => return vec![unreachable(server, &err)],
    };
    // Owned jobs: the futures must not borrow `domains` (the task is spawned, so `Send + 'static`).
    let jobs: Vec<(usize, usize, String, RecordType)> = domains
        .iter()
        .enumerate()
        .flat_map(|(d, (_, wanted))| {
            wanted
                .iter()
                .enumerate()
                .map(move |(w, want)| (d, w, want.name.clone(), want.rtype))
        })
        .collect();
    let mut answers = std::pin::pin!(
        futures_util::stream::iter(jobs)
            .map(|(d, w, name, rtype)| {
                let resolver = resolver.clone();
                async move { (d, w, published(&resolver, &name, rtype).await) }
            })
            .buffered(PARALLEL)
    );
    let mut out: Vec<Found> = Vec::new();
    // In order (`buffered`), so each domain's records come together; the first query the
    // resolver does not answer ends the check (the queries in flight are dropped), so a resolver
    // that is down costs one timeout, not one per record.
    while let Some((d, w, answer)) = answers.next().await {
        let (domain, wanted) = (&domains[d].0, &domains[d].1[w]);
        let published = match answer {
            Ok(p) => p,
            Err(err) => return vec![unreachable(server, &err)],
        };
        if matches(wanted, &published) {
            continue;
        }
        let line = differs(wanted, &published);
        match out.last_mut() {
            Some((_, subject, message)) if subject == domain.as_str() => {
                message.push_str("; ");
                message.push_str(&line);
            }
            _ => out.push((Kind::DnsMismatch, domain.to_string(), line)),
        }
    }
    out
}

/// What the DNS check asks, read from the current configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server: SocketAddr,
    pub every: Duration,
    pub domains: Vec<(DomainName, Vec<Wanted>)>,
}

impl Target {
    /// `None` when `[monitoring] resolver` is empty (or there is no valid configuration).
    pub fn read(config: Option<&Config>) -> Option<Target> {
        let config = config?;
        let monitoring = &config.settings.monitoring;
        Some(Target {
            server: parse_resolver(&monitoring.resolver)?,
            every: monitoring.dns_check_every.get(),
            domains: wanted(config),
        })
    }
}

/// The last DNS check, kept by the background task between its rounds: a new check runs when
/// `dns_check_every` has passed, or at once when what to check changed (the resolver, or the
/// records a new version needs).
#[derive(Debug, Default)]
pub struct Schedule {
    last: Option<(Target, Instant, Vec<Found>)>,
}

impl Schedule {
    /// The findings to report now, checking again first if a check is due.
    pub async fn current(&mut self, target: Option<Target>) -> Vec<Found> {
        let Some(target) = target else {
            self.last = None;
            return Vec::new();
        };
        if let Some((last, at, found)) = &self.last
            && *last == target
            && at.elapsed() < target.every
        {
            return found.clone();
        }
        let found = check(target.server, &target.domains).await;
        self.last = Some((target, Instant::now(), found.clone()));
        found
    }
}

fn unreachable(server: SocketAddr, err: &NetError) -> Found {
    (
        Kind::DnsMismatch,
        "resolver".into(),
        format!(
            "the DNS records could not be checked: the resolver {server} of monitoring.resolver \
             did not answer ({err})"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_record_text_parses_to_what_must_be_published() {
        let mx = parse("MX", "example.com. 600 IN MX 10 mail.example.com.").unwrap();
        assert_eq!(
            (mx.name.as_str(), mx.rtype, mx.data.as_str()),
            ("example.com.", RecordType::MX, "mail.example.com.")
        );
        let spf = parse(
            "SPF",
            "example.com. 600 IN TXT \"v=spf1 mx a:mail.example.com ~all\"",
        )
        .unwrap();
        assert_eq!(spf.data, "v=spf1 mx a:mail.example.com ~all");
        assert!(matches(&mx, &["20 MAIL.example.com".to_owned()]));
        assert!(!matches(&mx, &["10 mx.other.net.".to_owned()]));
        assert!(matches(
            &spf,
            &["v=spf1  mx a:mail.example.com ~all".to_owned()]
        ));
        assert!(!matches(&spf, &["v=spf1 -all".to_owned()]));
        assert_eq!(
            differs(&spf, &["v=spf1 -all".to_owned(), "other".to_owned()]),
            "SPF differs (published: `v=spf1 -all`); it should be \
             `example.com. 600 IN TXT \"v=spf1 mx a:mail.example.com ~all\"`"
        );
        assert!(differs(&mx, &[]).contains("none is published"));
    }

    #[test]
    fn resolver_addresses() {
        assert_eq!(
            parse_resolver("127.0.0.1:5353"),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(parse_resolver("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parse_resolver("dns.example.com"), None);
    }
}
