//! The network and access groups of `mailu.toml`: `[network]` (the stack's subnets, trusted relays,
//! reverse proxies, ports) and `[auth]` (login rate limits, tokens, password cost, header SSO).
//! PROXY_PROTOCOL, PORTS and TLS of Mailu are expanded here ([`Network::proxy_protocol_ports`],
//! [`Network::port_open`]), not by each container.

use super::check;
use super::value::{Cidr, HumanDuration, Rate, RateUnit};
use crate::model::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The ports the front can serve, as Mailu's `PORTS` knows them.
const KNOWN_PORTS: [u16; 7] = [25, 80, 443, 465, 993, 995, 4190];
/// The ports that are TLS from the first byte (Mailu's `PORTS_REQUIRING_TLS`).
const IMPLICIT_TLS_PORTS: [u16; 4] = [443, 465, 993, 995];
/// Mailu's PROXY_PROTOCOL groups.
const PROXY_MAIL: [u16; 8] = [25, 110, 995, 143, 993, 587, 465, 4190];

/// One entry of `network.proxy_protocol`: a port, or one of Mailu's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    Port(u16),
    /// 25, 110, 143, 465, 587, 993, 995, 4190.
    Mail,
    /// `mail` and 443.
    AllButHttp,
    /// `all-but-http` and 80.
    All,
}

impl FromStr for ProxyProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mail" => Ok(ProxyProtocol::Mail),
            "all-but-http" => Ok(ProxyProtocol::AllButHttp),
            "all" => Ok(ProxyProtocol::All),
            port => port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .map(ProxyProtocol::Port)
                .ok_or_else(|| {
                    format!("`{s}` is not a port or one of \"mail\", \"all-but-http\", \"all\"")
                }),
        }
    }
}

impl fmt::Display for ProxyProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyProtocol::Port(p) => write!(f, "{p}"),
            ProxyProtocol::Mail => f.write_str("mail"),
            ProxyProtocol::AllButHttp => f.write_str("all-but-http"),
            ProxyProtocol::All => f.write_str("all"),
        }
    }
}

super::value::serde_via_str!(ProxyProtocol);

/// `[network]`: addresses the stack trusts and the ports it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// IPv4 network of the stack's containers (trusted by postfix, dovecot, rspamd, unbound).
    pub subnet: Cidr,
    /// IPv6 network of the stack's containers, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Cidr>,
    /// Other networks allowed to send mail through us without logging in (postfix `mynetworks`).
    pub relaynets: Vec<Cidr>,
    /// Header carrying the client address when a reverse proxy is in front, e.g. "X-Forwarded-For".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub real_ip_header: Option<String>,
    /// Reverse proxies trusted to set `real_ip_header` (or to speak the PROXY protocol).
    pub real_ip_from: Vec<Cidr>,
    /// Ports that expect the PROXY protocol: port numbers, "mail", "all-but-http" or "all".
    pub proxy_protocol: Vec<ProxyProtocol>,
    /// Ports the front listens on.
    pub ports: Vec<u16>,
    /// Which of 443, 465, 993, 995 speak TLS from the first byte (443 is ignored with `tls.flavor =
    /// "notls"`; mail keeps TLS in every flavor).
    pub tls_ports: Vec<u16>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            subnet: "192.168.203.0/24"
                .parse()
                .expect("a valid constant network"),
            subnet6: None,
            relaynets: Vec::new(),
            real_ip_header: None,
            real_ip_from: Vec::new(),
            proxy_protocol: Vec::new(),
            ports: KNOWN_PORTS.to_vec(),
            tls_ports: IMPLICIT_TLS_PORTS.to_vec(),
        }
    }
}

impl Network {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            self.subnet.is_ipv4(),
            "network.subnet",
            "must be an IPv4 network (IPv6 goes in `network.subnet6`)",
        );
        if let Some(net) = self.subnet6 {
            check(
                problems,
                !net.is_ipv4(),
                "network.subnet6",
                "must be an IPv6 network",
            );
        }
        if let Some(header) = &self.real_ip_header {
            let ok = !header.is_empty()
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            check(
                problems,
                ok,
                "network.real_ip_header",
                "must be an HTTP header name such as \"X-Forwarded-For\"",
            );
            check(
                problems,
                !self.real_ip_from.is_empty(),
                "network.real_ip_from",
                "must list the trusted proxies when `network.real_ip_header` is set",
            );
        }
        for (i, port) in self.ports.iter().enumerate() {
            let field = format!("network.ports.{i}");
            check(
                problems,
                KNOWN_PORTS.contains(port),
                &field,
                "must be one of 25, 80, 443, 465, 993, 995, 4190",
            );
            check(
                problems,
                !self.ports[..i].contains(port),
                &field,
                "is listed twice",
            );
        }
        for (i, port) in self.tls_ports.iter().enumerate() {
            check(
                problems,
                IMPLICIT_TLS_PORTS.contains(port),
                &format!("network.tls_ports.{i}"),
                "must be one of 443, 465, 993, 995",
            );
        }
        check(
            problems,
            self.proxy_protocol.is_empty() || !self.real_ip_from.is_empty(),
            "network.proxy_protocol",
            "needs the proxies' networks in `network.real_ip_from`",
        );
    }

    /// The ports that expect the PROXY protocol, Mailu's `PROXY_PROTOCOL_<port>` expanded.
    pub fn proxy_protocol_ports(&self) -> BTreeSet<u16> {
        let mut ports = BTreeSet::new();
        for item in &self.proxy_protocol {
            match item {
                ProxyProtocol::Port(p) => {
                    ports.insert(*p);
                }
                ProxyProtocol::Mail => ports.extend(PROXY_MAIL),
                ProxyProtocol::AllButHttp => ports.extend(PROXY_MAIL.iter().chain(&[443])),
                ProxyProtocol::All => ports.extend(PROXY_MAIL.iter().chain(&[443, 80])),
            }
        }
        ports
    }

    /// Whether the stack listens on `port` (Mailu's `PORT_<port>`). Without web TLS
    /// (`tls.flavor = "notls"`) 443 is closed; the mail ports keep TLS in every flavor (smtp and
    /// imap always hold a certificate, self-signed at least), so 465, 993 and 995 stay as listed.
    pub fn port_open(&self, port: u16, web_tls: bool) -> bool {
        self.ports.contains(&port) && (web_tls || port != 443)
    }

    /// Whether `port` speaks TLS from the first byte (Mailu's `TLS_<port>`).
    pub fn port_tls(&self, port: u16, web_tls: bool) -> bool {
        (web_tls || port != 443)
            && self.tls_ports.contains(&port)
            && IMPLICIT_TLS_PORTS.contains(&port)
    }
}

/// `[auth]`: logins to mail and web.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// Failed logins allowed from one client network, `COUNT/UNIT`.
    pub ratelimit_ip: Rate,
    /// Prefix length grouping IPv4 clients into one network for `ratelimit_ip`.
    pub ratelimit_ip_v4_mask: u8,
    /// Prefix length grouping IPv6 clients into one network for `ratelimit_ip`.
    pub ratelimit_ip_v6_mask: u8,
    /// Failed logins allowed for one user, `COUNT/UNIT`.
    pub ratelimit_user: Rate,
    /// Networks never rate-limited.
    pub ratelimit_exemption: Vec<Cidr>,
    /// How long a client that logged in successfully stays exempt from the IP rate limit.
    pub ratelimit_exemption_length: HumanDuration,
    /// Mail clients must log in with app tokens, not the account password.
    pub require_tokens: bool,
    /// bcrypt cost of new password hashes (Mailu's CREDENTIAL_ROUNDS), 10 to 16; 12 is about 0.2 s a login.
    pub credential_rounds: u32,
    /// Reverse proxies allowed to log users in to the web through `proxy_header` (SSO).
    pub proxy_whitelist: Vec<Cidr>,
    /// Header carrying the logged-in user's address from such a proxy.
    pub proxy_header: String,
    /// Create a user who logs in through the proxy header and does not exist yet.
    pub proxy_create: bool,
    /// Where the web admin sends users on logout when they came through the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_logout_url: Option<String>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            ratelimit_ip: Rate {
                count: 5,
                per: RateUnit::Hour,
            },
            ratelimit_ip_v4_mask: 24,
            ratelimit_ip_v6_mask: 48,
            ratelimit_user: Rate {
                count: 50,
                per: RateUnit::Day,
            },
            ratelimit_exemption: Vec::new(),
            ratelimit_exemption_length: HumanDuration::from_secs(86_400),
            require_tokens: false,
            credential_rounds: 12,
            proxy_whitelist: Vec::new(),
            proxy_header: "X-Auth-Email".into(),
            proxy_create: false,
            proxy_logout_url: None,
        }
    }
}

impl Auth {
    pub(super) fn validate(&self, problems: &mut Vec<Problem>) {
        check(
            problems,
            self.ratelimit_ip.count > 0,
            "auth.ratelimit_ip",
            "a count of 0 would block every login",
        );
        check(
            problems,
            self.ratelimit_user.count > 0,
            "auth.ratelimit_user",
            "a count of 0 would block every login",
        );
        check(
            problems,
            self.ratelimit_ip_v4_mask <= 32,
            "auth.ratelimit_ip_v4_mask",
            "must be from 0 to 32",
        );
        check(
            problems,
            self.ratelimit_ip_v6_mask <= 128,
            "auth.ratelimit_ip_v6_mask",
            "must be from 0 to 128",
        );
        // The password module's bounds: below 10 a leaked hash is cheap to attack (anyone who may
        // clone reads the user files), above 16 a login costs seconds of dovecot's CPU.
        check(
            problems,
            (crate::password::Cost::MIN..=crate::password::Cost::MAX)
                .contains(&self.credential_rounds),
            "auth.credential_rounds",
            "must be from 10 to 16 (bcrypt cost: 12 is about 0.2 s per login)",
        );
        let header_ok = !self.proxy_header.is_empty()
            && self
                .proxy_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        check(
            problems,
            header_ok,
            "auth.proxy_header",
            "must be an HTTP header name such as \"X-Auth-Email\"",
        );
        check(
            problems,
            !self.proxy_create || !self.proxy_whitelist.is_empty(),
            "auth.proxy_create",
            "needs the trusted proxies in `auth.proxy_whitelist`",
        );
        if let Some(url) = &self.proxy_logout_url {
            let ok = url.starts_with("https://") || url.starts_with("http://");
            check(
                problems,
                ok,
                "auth.proxy_logout_url",
                "must be an http:// or https:// URL",
            );
        }
    }
}
