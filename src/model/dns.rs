//! The DNS records Mailu shows on a domain (`dns_*` of `DomainGet`), derived from `mailu.toml`.
//!
//! The text follows Mailu's `models.Domain` (TTL 600, the primary host name, `v=spf1 mx a:<host>
//! ~all`, DMARC `p=reject` with strict alignment), with names in ASCII (punycode) form, which is
//! what a zone file needs. As in Mailu, the DMARC records are shown only when the domain has a DKIM
//! key (signing must work before `p=reject` is safe). TLSA: where Mailu shows the ISRG roots
//! (`2 1 1`, Let's Encrypt only), we show the certificate's own key (`3 1 1`, DANE-EE) for SMTP on
//! the primary host, whatever issued it, in every flavor (smtp keeps TLS with "notls"): ACME
//! renewals keep the key, so the record stays valid across them.

use serde::Serialize;

use crate::model::settings::Settings;
use crate::model::{Config, DomainName, SecretRef};

/// Mailu's TTL for every record it suggests.
const TTL: u32 = 600;

/// The suggested records of one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = DnsRecords)]
pub struct Records {
    pub dns_autoconfig: Vec<String>,
    pub dns_mx: Option<String>,
    pub dns_spf: Option<String>,
    /// Always `None` for now: the public key needs the secret store (see the module doc).
    pub dns_dkim: Option<String>,
    pub dns_dmarc: Option<String>,
    pub dns_dmarc_report: Option<String>,
    /// `_25._tcp.<host>. TLSA 3 1 1 <SHA-256 of the certificate's public key>` (see the module doc).
    pub dns_tlsa: Vec<String>,
}

/// RFC 6186 services as Mailu lists them: name, port, priority. `autodiscover` (the web, 443) only
/// when the front does TLS; the mail ones in every flavor (mail keeps TLS even with "notls").
const PLAIN: [(&str, u16, u16); 3] = [
    ("imap", 143, 20),
    ("pop3", 110, 20),
    ("submission", 587, 20),
];
const TLS: [(&str, u16, u16); 4] = [
    ("autodiscover", 443, 10),
    ("submissions", 465, 10),
    ("imaps", 993, 10),
    ("pop3s", 995, 10),
];

/// Whether `domain` has a DKIM key (`secrets/dkim/<domain>`).
pub fn has_dkim_key(config: &Config, domain: &DomainName) -> bool {
    SecretRef::new("dkim", domain.as_str()).is_ok_and(|r| config.secrets.contains(&r))
}

/// The records of `domain` under `config`'s settings; `spki` is the hex SHA-256 of the
/// certificate's SubjectPublicKeyInfo, if there is a certificate.
pub fn records(config: &Config, domain: &DomainName, spki: Option<&str>) -> Records {
    let settings = &config.settings;
    let dkim = has_dkim_key(config, domain);
    let Some(host) = settings.hostname() else {
        // The settings loader requires a host name; without one nothing points anywhere.
        return Records {
            dns_autoconfig: Vec::new(),
            dns_mx: None,
            dns_spf: None,
            dns_dkim: None,
            dns_dmarc: None,
            dns_dmarc_report: None,
            dns_tlsa: Vec::new(),
        };
    };
    Records {
        dns_autoconfig: autoconfig(settings, domain, host),
        dns_mx: Some(format!("{domain}. {TTL} IN MX 10 {host}.")),
        dns_spf: Some(format!(
            "{domain}. {TTL} IN TXT \"v=spf1 mx a:{host} ~all\""
        )),
        dns_dkim: config
            .domain(domain)
            .map(|d| d.domain.dkim_public_key.as_str())
            .filter(|key| dkim && !key.is_empty())
            .map(|key| {
                format!(
                    "{}._domainkey.{domain}. {TTL} IN TXT \"v=DKIM1; k=rsa; p={key}\"",
                    settings.dkim.selector
                )
            }),
        dns_dmarc: dkim.then(|| dmarc(settings, domain)),
        dns_dmarc_report: dkim.then(|| {
            format!(
                "{domain}._report._dmarc.{}. {TTL} IN TXT \"v=DMARC1;\"",
                settings.mail.domain
            )
        }),
        dns_tlsa: spki
            .map(|spki| vec![format!("_25._tcp.{host}. {TTL} IN TLSA 3 1 1 {spki}")])
            .unwrap_or_default(),
    }
}

fn dmarc(settings: &Settings, domain: &DomainName) -> String {
    let (rua, ruf) = settings.dmarc_addresses();
    let rua = rua.map(|a| format!(" rua=mailto:{a};")).unwrap_or_default();
    let ruf = ruf.map(|a| format!(" ruf=mailto:{a};")).unwrap_or_default();
    format!("_dmarc.{domain}. {TTL} IN TXT \"v=DMARC1; p=reject;{rua}{ruf} adkim=s; aspf=s\"")
}

/// SRV records for every service; a closed port gets RFC 6186's "not offered here" record
/// (`0 0 0 .`), as later Mailu versions write, instead of pointing clients at a closed port.
fn autoconfig(settings: &Settings, domain: &DomainName, host: &DomainName) -> Vec<String> {
    let services = PLAIN.iter().chain(
        TLS.iter()
            .filter(|(name, ..)| *name != "autodiscover" || settings.tls_enabled()),
    );
    let mut out: Vec<String> = services
        .map(|(name, port, priority)| {
            if settings.port_open(*port) {
                format!("_{name}._tcp.{domain}. {TTL} IN SRV {priority} 1 {port} {host}.")
            } else {
                format!("_{name}._tcp.{domain}. {TTL} IN SRV 0 0 0 .")
            }
        })
        .collect();
    out.push(format!("autoconfig.{domain}. {TTL} IN CNAME {host}."));
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{RepoPath, load};

    fn config(settings: &str, dkim: bool) -> Config {
        let mut files: BTreeMap<RepoPath, Vec<u8>> = BTreeMap::new();
        files.insert(RepoPath::settings(), settings.as_bytes().to_vec());
        files.insert(
            RepoPath::parse("domains/example.com/domain.toml").unwrap(),
            Vec::new(),
        );
        if dkim {
            files.insert(
                RepoPath::parse("secrets/dkim/example.com").unwrap(),
                b"-----BEGIN AGE ENCRYPTED FILE-----\n".to_vec(),
            );
        }
        load(&files).unwrap()
    }

    fn example() -> DomainName {
        DomainName::parse("example.com").unwrap()
    }

    #[test]
    fn mailus_record_text_with_the_default_settings() {
        let r = records(&config("format = 1\n", false), &example(), None);
        assert_eq!(
            r.dns_mx.as_deref(),
            Some("example.com. 600 IN MX 10 mail.example.com.")
        );
        assert_eq!(
            r.dns_spf.as_deref(),
            Some("example.com. 600 IN TXT \"v=spf1 mx a:mail.example.com ~all\"")
        );
        assert_eq!(r.dns_dmarc, None, "no DKIM key, no DMARC record (as Mailu)");
        assert_eq!(r.dns_dkim, None);
        assert!(r.dns_tlsa.is_empty());
        let with_cert = records(&config("format = 1\n", false), &example(), Some("ab12"));
        assert_eq!(
            with_cert.dns_tlsa,
            vec!["_25._tcp.mail.example.com. 600 IN TLSA 3 1 1 ab12"]
        );
        let notls = config("format = 1\n[tls]\nflavor = \"notls\"\n", false);
        // smtp keeps its certificate with "notls" too.
        assert_eq!(records(&notls, &example(), Some("ab12")).dns_tlsa.len(), 1);
        // Mailu's default ports: 143, 110 and 587 are closed, the TLS ones open.
        assert_eq!(
            r.dns_autoconfig,
            vec![
                "_imap._tcp.example.com. 600 IN SRV 0 0 0 .",
                "_pop3._tcp.example.com. 600 IN SRV 0 0 0 .",
                "_submission._tcp.example.com. 600 IN SRV 0 0 0 .",
                "_autodiscover._tcp.example.com. 600 IN SRV 10 1 443 mail.example.com.",
                "_submissions._tcp.example.com. 600 IN SRV 10 1 465 mail.example.com.",
                "_imaps._tcp.example.com. 600 IN SRV 10 1 993 mail.example.com.",
                "_pop3s._tcp.example.com. 600 IN SRV 10 1 995 mail.example.com.",
                "autoconfig.example.com. 600 IN CNAME mail.example.com.",
            ]
        );
    }

    #[test]
    fn dmarc_records_with_a_dkim_key_and_report_addresses() {
        let settings = "format = 1\n[mail]\ndomain = \"example.org\"\nhostnames = [\"mx.example.org\"]\n[network]\nports = [25, 993]\n[dmarc]\nrua = \"reports\"\n[tls]\nflavor = \"notls\"\n";
        let r = records(&config(settings, true), &example(), None);
        assert_eq!(
            r.dns_dmarc.as_deref(),
            Some(
                "_dmarc.example.com. 600 IN TXT \"v=DMARC1; p=reject; rua=mailto:reports@example.org; ruf=mailto:postmaster@example.org; adkim=s; aspf=s\""
            )
        );
        assert_eq!(
            r.dns_dmarc_report.as_deref(),
            Some("example.com._report._dmarc.example.org. 600 IN TXT \"v=DMARC1;\"")
        );
        assert_eq!(
            r.dns_autoconfig,
            vec![
                "_imap._tcp.example.com. 600 IN SRV 0 0 0 .",
                "_pop3._tcp.example.com. 600 IN SRV 0 0 0 .",
                "_submission._tcp.example.com. 600 IN SRV 0 0 0 .",
                // "notls": no web (autodiscover), but the mail ports keep TLS.
                "_submissions._tcp.example.com. 600 IN SRV 0 0 0 .",
                "_imaps._tcp.example.com. 600 IN SRV 10 1 993 mx.example.org.",
                "_pop3s._tcp.example.com. 600 IN SRV 0 0 0 .",
                "autoconfig.example.com. 600 IN CNAME mx.example.org.",
            ]
        );
    }
}
