//! The self-signed certificate the server makes at first start (and again when the host names
//! change while the certificate is still self-signed): ECDSA P-256 with `rcgen`, the host names as
//! subject alternative names, the first as common name, valid [`VALIDITY_DAYS`] days.

use super::cert::{CertError, Key};
use crate::model::DomainName;

/// How long a self-signed certificate is valid. Long: nobody renews it by hand, and clients that
/// accept it at all accept it pinned.
pub const VALIDITY_DAYS: i64 = 825;

/// A self-signed certificate for `hostnames` with `key`, as PEM, valid from `now` (Unix seconds,
/// back-dated one hour against clock skew).
pub fn make(hostnames: &[DomainName], key: &Key, now: i64) -> Result<String, CertError> {
    let names: Vec<String> = hostnames.iter().map(|h| h.to_string()).collect();
    let mut params =
        rcgen::CertificateParams::new(names.clone()).map_err(|e| CertError::Key(e.to_string()))?;
    let mut dn = rcgen::DistinguishedName::new();
    if let Some(first) = names.first() {
        dn.push(rcgen::DnType::CommonName, first.clone());
    }
    dn.push(rcgen::DnType::OrganizationName, "mailu-git self-signed");
    params.distinguished_name = dn;
    let start = time::OffsetDateTime::from_unix_timestamp(now - 3600)
        .map_err(|e| CertError::Key(e.to_string()))?;
    params.not_before = start;
    params.not_after = start + time::Duration::days(VALIDITY_DAYS);
    let cert = params
        .self_signed(key.pair())
        .map_err(|e| CertError::Key(e.to_string()))?;
    Ok(cert.pem())
}

#[cfg(test)]
mod tests {
    use super::super::cert::parse_chain;
    use super::*;

    #[test]
    fn covers_the_host_names_and_matches_its_key() {
        let hosts = vec![
            DomainName::parse("mail.example.com").unwrap(),
            DomainName::parse("imap.example.com").unwrap(),
        ];
        let key = Key::generate().unwrap();
        let now = 1_800_000_000;
        let pem = make(&hosts, &key, now).unwrap();
        let chain = parse_chain(pem.as_bytes()).unwrap();
        chain.check_hostnames(&hosts).unwrap();
        chain.check_validity(now).unwrap();
        chain.check_key(&key).unwrap();
        assert!(chain.info.self_issued);
        let other = Key::generate().unwrap();
        assert_eq!(chain.check_key(&other), Err(CertError::Mismatch));
        let reparsed = Key::parse(key.to_pem().as_bytes()).unwrap();
        chain.check_key(&reparsed).unwrap();
    }
}
