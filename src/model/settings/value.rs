//! The typed values `mailu.toml` uses besides numbers, booleans and names: a rate limit ([`Rate`]),
//! a network ([`Cidr`]), a duration written for people ([`HumanDuration`]) and an address-or-domain
//! ([`SenderMatch`]). Each parses from the string form Mailu's `mailu.env` uses and displays back to it.
//! Range rules that depend on other settings are not here but in the groups' `validate`.

use crate::model::{DomainName, Email};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a value was refused; the message names the text and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "`{0}` is not a rate (expected `COUNT/UNIT`, e.g. `200/day`; units: second, minute, hour, day, month, year)"
    )]
    Rate(String),
    #[error(
        "`{text}` is not a network in CIDR form (`ADDRESS/PREFIX`, e.g. `192.168.203.0/24`): {reason}"
    )]
    Cidr { text: String, reason: String },
    #[error("`{text}` is not a duration (e.g. `2s`, `10m`, `1day`): {reason}")]
    Duration { text: String, reason: String },
    #[error("`{text}` is neither an address nor a domain: {reason}")]
    SenderMatch { text: String, reason: String },
}

/// The unit of a [`Rate`], with the lengths of the `limits` library Mailu uses (a month is 30 days,
/// a year 12 such months).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl RateUnit {
    const ALL: [(RateUnit, &'static str); 6] = [
        (RateUnit::Second, "second"),
        (RateUnit::Minute, "minute"),
        (RateUnit::Hour, "hour"),
        (RateUnit::Day, "day"),
        (RateUnit::Month, "month"),
        (RateUnit::Year, "year"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(u, _)| *u == self)
            .map(|(_, name)| *name)
            .expect("every unit is listed in ALL")
    }

    /// The length of the window this unit names.
    pub fn window(self) -> std::time::Duration {
        let secs = match self {
            RateUnit::Second => 1,
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86_400,
            RateUnit::Month => 30 * 86_400,
            RateUnit::Year => 12 * 30 * 86_400,
        };
        std::time::Duration::from_secs(secs)
    }
}

/// A rate limit, `COUNT/UNIT` as in Mailu (`200/day`): at most `count` events per `per`.
/// `COUNT per UNIT` and plural units (`5/hours`) are accepted too; it displays as `COUNT/UNIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: RateUnit,
}

impl FromStr for Rate {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self, Error> {
        let bad = || Error::Rate(raw.to_owned());
        let text = raw.trim().to_ascii_lowercase();
        let (count, unit) = text
            .split_once('/')
            .or_else(|| text.split_once(" per "))
            .ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let unit = unit.trim();
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        let per = RateUnit::ALL
            .iter()
            .find(|(_, name)| *name == unit)
            .map(|(u, _)| *u)
            .ok_or_else(bad)?;
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per.as_str())
    }
}

/// An IP network, `ADDRESS/PREFIX`. The prefix is required and the host bits must be zero, as
/// Python's `ip_network` (strict) demands of Mailu's `SUBNET`: a typo like `10.0.0.1/8` is refused
/// rather than silently widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Cidr {
    /// The lenient form Mailu accepts for app tokens' allowed networks (Python's
    /// `ip_network(strict=False)`): a bare address means that one host, and host bits may be set.
    pub fn parse_lenient(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        let fail = |reason: &str| Error::Cidr {
            text: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| fail("the address is not an IP address"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| fail(&format!("the prefix must be a number from 0 to {max}")))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl FromStr for Cidr {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self, Error> {
        let fail = |reason: &str| Error::Cidr {
            text: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let (addr, prefix) = raw
            .trim()
            .split_once('/')
            .ok_or_else(|| fail("the `/PREFIX` is missing (a single host is `/32` or `/128`)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| fail("the address is not an IP address"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| fail(&format!("the prefix must be a number from 0 to {max}")))?;
        let cidr = Cidr { addr, prefix };
        if network_address(cidr) != addr {
            return Err(fail(&format!(
                "host bits are set; the network is `{}/{prefix}`",
                network_address(cidr)
            )));
        }
        Ok(cidr)
    }
}

/// The address with the host bits cleared.
fn network_address(c: Cidr) -> IpAddr {
    match c.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(c.prefix))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A duration written for people, with `humantime`'s syntax (`2s`, `10m`, `1day`, `30days 12h`).
/// Mailu writes seconds as bare integers; the importer converts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub std::time::Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(std::time::Duration::from_secs(secs))
    }

    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for HumanDuration {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self, Error> {
        humantime::parse_duration(raw.trim())
            .map(HumanDuration)
            .map_err(|e| Error::Duration {
                text: raw.to_owned(),
                reason: e.to_string(),
            })
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// An entry of an exemption list: one address, or a whole domain (no `@`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SenderMatch {
    Address(Email),
    Domain(DomainName),
}

impl FromStr for SenderMatch {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self, Error> {
        let fail = |e: crate::model::NameError| Error::SenderMatch {
            text: raw.to_owned(),
            reason: e.0,
        };
        if raw.contains('@') {
            Email::parse(raw).map(SenderMatch::Address).map_err(fail)
        } else {
            DomainName::parse(raw)
                .map(SenderMatch::Domain)
                .map_err(fail)
        }
    }
}

impl fmt::Display for SenderMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SenderMatch::Address(e) => e.fmt(f),
            SenderMatch::Domain(d) => d.fmt(f),
        }
    }
}

/// Serde through the string form, for every type above.
macro_rules! serde_via_str {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
pub(crate) use serde_via_str;

serde_via_str!(Rate, Cidr, HumanDuration, SenderMatch);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let r: Rate = "200/day".parse().unwrap();
        assert_eq!((r.count, r.per), (200, RateUnit::Day));
        assert_eq!("5 per hours".parse::<Rate>().unwrap().to_string(), "5/hour");
        assert_eq!(RateUnit::Month.window().as_secs(), 2_592_000);
        for bad in ["", "200", "x/day", "200/fortnight", "-1/day", "2/3 days"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "192.168.203.0/24".parse().unwrap();
        assert!(c.contains("192.168.203.7".parse().unwrap()));
        assert!(!c.contains("192.168.204.7".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert_eq!("fd00::/8".parse::<Cidr>().unwrap().to_string(), "fd00::/8");
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix, 0);
        assert_eq!("10.1.2.3/32".parse::<Cidr>().unwrap().prefix, 32);
        let err = "10.0.0.1/8".parse::<Cidr>().unwrap_err().to_string();
        assert!(err.contains("the network is `10.0.0.0/8`"), "{err}");
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "mail/24",
            "10.0.0.0/x",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn durations_round_trip() {
        for (text, secs) in [
            ("2s", 2),
            ("10m", 600),
            ("1day", 86_400),
            ("30days", 2_592_000),
        ] {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.get().as_secs(), secs);
            assert_eq!(d.to_string().parse::<HumanDuration>().unwrap(), d);
        }
        assert!("soon".parse::<HumanDuration>().is_err());
        assert!("60".parse::<HumanDuration>().is_err());
    }

    #[test]
    fn sender_matches() {
        assert!(matches!("a@b.example".parse(), Ok(SenderMatch::Address(_))));
        assert!(matches!("B.example".parse(), Ok(SenderMatch::Domain(_))));
        assert!("nodot".parse::<SenderMatch>().is_err());
        assert!("a@".parse::<SenderMatch>().is_err());
    }
}
