use super::*;

const TEMPLATE: &str = include_str!("../../../config-repo-template/mailu.toml");

/// Parses `format = 1` plus `rest` and returns the problems' fields.
fn problems(rest: &str) -> Vec<Problem> {
    let settings: Settings = toml::from_str(&format!("format = 1\n{rest}"))
        .unwrap_or_else(|e| panic!("{rest:?} did not parse: {e}"));
    let mut found = Vec::new();
    settings.validate(&mut found);
    found
}

fn fields(rest: &str) -> Vec<String> {
    problems(rest).into_iter().map(|p| p.field).collect()
}

/// Whether a line is a commented-out `# key = example`.
fn is_commented_key(line: &str) -> bool {
    line.strip_prefix("# ")
        .and_then(|rest| rest.split_once(" = "))
        .is_some_and(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

/// The template with every commented-out `# key = example` line switched on.
fn template_with_examples() -> String {
    TEMPLATE
        .lines()
        .map(|l| if is_commented_key(l) { &l[2..] } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn defaults_are_valid_and_round_trip() {
    let defaults = Settings::default();
    let text = toml::to_string(&defaults).unwrap();
    assert_eq!(toml::from_str::<Settings>(&text).unwrap(), defaults);
    let mut found = Vec::new();
    defaults.validate(&mut found);
    assert_eq!(found, []);
    // Only `format` is required: every table has its defaults.
    assert_eq!(toml::from_str::<Settings>("format = 1").unwrap(), defaults);
}

#[test]
fn template_parses_to_the_defaults() {
    assert_eq!(
        toml::from_str::<Settings>(TEMPLATE).unwrap(),
        Settings::default()
    );
    assert!(
        TEMPLATE
            .lines()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            == Some("format = 1")
    );
}

#[test]
fn template_examples_are_valid_and_cover_every_key() {
    // `real_ip_header` needs trusted proxies, so the example sets one.
    let text =
        template_with_examples().replace("real_ip_from = []", "real_ip_from = [\"10.0.0.0/8\"]");
    let all: Settings = toml::from_str(&text).unwrap();
    let mut found = Vec::new();
    all.validate(&mut found);
    assert_eq!(found, []);
    // With every optional key set, serializing shows every key; each must be in the template, with
    // a doc comment on the line above.
    let serialized: toml::Table = toml::from_str(&toml::to_string(&all).unwrap()).unwrap();
    let lines: Vec<&str> = TEMPLATE.lines().collect();
    for (table, keys) in &serialized {
        let Some(keys) = keys.as_table() else {
            continue;
        };
        assert!(
            TEMPLATE.contains(&format!("\n[{table}]\n")),
            "[{table}] missing"
        );
        for key in keys.keys() {
            let at = lines
                .iter()
                .position(|l| {
                    l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} = "))
                })
                .unwrap_or_else(|| panic!("{table}.{key} is not in the template"));
            let above = lines[at - 1];
            assert!(
                above.starts_with("# ") && !is_commented_key(above),
                "{table}.{key} has no doc line"
            );
        }
    }
}

#[test]
fn format_is_required_and_checked() {
    let err = toml::from_str::<Settings>("[mail]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("format"), "{err}");
    let settings: Settings = toml::from_str("format = 2").unwrap();
    let mut found = Vec::new();
    settings.validate(&mut found);
    assert_eq!(
        found,
        [Problem::new(
            "format",
            "format 2 was made by a newer mailu-git; this mailu-git reads format 1: upgrade mailu-git"
        )]
    );
    let settings: Settings = toml::from_str("format = 0").unwrap();
    let mut found = Vec::new();
    settings.validate(&mut found);
    assert_eq!(
        found,
        [Problem::new(
            "format",
            "format 0 is older than format 1, which this mailu-git reads and main has: main was \
             upgraded when this mailu-git first started; make your change on main as it is now \
             (`git pull`, keep `format = 1`)"
        )]
    );
}

#[test]
fn unknown_keys_are_refused() {
    for (text, key) in [
        ("format = 1\nhostname = \"a.b\"", "hostname"),
        ("format = 1\n[mail]\nmessage_size = 1", "message_size"),
        ("format = 1\n[history]\nkeep = 1", "keep"),
        ("format = 1\n[nope]", "nope"),
    ] {
        let err = toml::from_str::<Settings>(text).unwrap_err().to_string();
        assert!(err.contains(key), "{text:?}: {err}");
    }
}

#[test]
fn values_are_typed_at_parse_time() {
    for (rest, needle) in [
        ("[mail]\ndomain = \"nodot\"", "domain"),
        ("[mail]\nhostnames = [\"mail example.com\"]", "hostnames"),
        ("[mail]\npostmaster = \"Post Master\"", "postmaster"),
        ("[mail]\nmessage_size_limit = -1", "message_size_limit"),
        ("[mail]\nmessage_ratelimit = \"200\"", "COUNT/UNIT"),
        (
            "[mail]\nmessage_ratelimit_exemption = [\"nodot\"]",
            "neither an address nor a domain",
        ),
        ("[mail]\nwildcard_senders = [\"x\"]", "wildcard_senders"),
        ("[mailbox]\ncompression = \"zip\"", "compression"),
        ("[outbound]\ntls_level = \"strict\"", "tls_level"),
        (
            "[network]\nsubnet = \"192.168.203.1/24\"",
            "host bits are set",
        ),
        ("[network]\nrelaynets = [\"10.0.0.0\"]", "PREFIX"),
        ("[network]\nproxy_protocol = [\"smtp\"]", "not a port"),
        ("[network]\nports = [70000]", "ports"),
        ("[tls]\nflavor = \"acme\"", "flavor"),
        ("[features]\nwebmail = \"rainloop\"", "webmail"),
        ("[features]\nantivirus = \"sophos\"", "antivirus"),
        ("[web]\nsession_timeout = 3600", "session_timeout"),
        ("[web]\nsession_lifetime = \"a month\"", "not a duration"),
        ("[auth]\nratelimit_user = \"50/fortnight\"", "COUNT/UNIT"),
        (
            "[antispam]\nantivirus_action = \"quarantine\"",
            "antivirus_action",
        ),
        ("[system]\nlog_level = \"info\"", "log_level"),
        ("[debounce]\nquiet = \"soon\"", "not a duration"),
        (
            "[history]\ncleanup_schedule = \"0 30 3 * * *\"",
            "has 6 fields",
        ),
        (
            "[history]\nrepack_schedule = \"0 4 * * funday\"",
            "day-of-week field",
        ),
        ("[history]\nkeep_last = \"all\"", "keep_last"),
    ] {
        let err = toml::from_str::<Settings>(&format!("format = 1\n{rest}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{rest:?}: {err}");
    }
}

#[test]
fn every_in_file_rule_names_its_field() {
    for (rest, field) in [
        ("[mail]\nhostnames = []", "mail.hostnames"),
        (
            "[mail]\nhostnames = [\"a.example\", \"b.example\", \"a.example\"]",
            "mail.hostnames.2",
        ),
        ("[mail]\nmessage_size_limit = 0", "mail.message_size_limit"),
        (
            "[mail]\nmessage_ratelimit = \"0/day\"",
            "mail.message_ratelimit",
        ),
        (
            "[mail]\nrecipient_delimiter = \"a\"",
            "mail.recipient_delimiter",
        ),
        (
            "[mail]\nrecipient_delimiter = \"@\"",
            "mail.recipient_delimiter",
        ),
        (
            "[mailbox]\ncompression_level = 0",
            "mailbox.compression_level",
        ),
        (
            "[mailbox]\ncompression_level = 10",
            "mailbox.compression_level",
        ),
        (
            "[mailbox]\nfull_text_search = \"English\"",
            "mailbox.full_text_search",
        ),
        (
            "[mailbox]\nfull_text_search = \"off\"\nfull_text_search_attachments = true",
            "mailbox.full_text_search_attachments",
        ),
        (
            "[outbound]\nrelay_host = \"smtp.example.com:0\"",
            "outbound.relay_host",
        ),
        (
            "[outbound]\nrelay_host = \"192.0.2.1\"",
            "outbound.relay_host",
        ),
        ("[outbound]\nrelay_user = \"me\"", "outbound.relay_user"),
        (
            "[outbound]\nrelay_host = \"[smtp.example.com]\"\nrelay_user = \"me you\"",
            "outbound.relay_user",
        ),
        ("[network]\nsubnet = \"fd00::/8\"", "network.subnet"),
        ("[network]\nsubnet6 = \"10.0.0.0/8\"", "network.subnet6"),
        (
            "[network]\nreal_ip_header = \"X Forwarded\"\nreal_ip_from = [\"10.0.0.0/8\"]",
            "network.real_ip_header",
        ),
        (
            "[network]\nreal_ip_header = \"X-Real-IP\"",
            "network.real_ip_from",
        ),
        (
            "[network]\nproxy_protocol = [\"mail\"]",
            "network.proxy_protocol",
        ),
        ("[network]\nports = [25, 8080]", "network.ports.1"),
        ("[network]\nports = [25, 25]", "network.ports.1"),
        ("[network]\ntls_ports = [25]", "network.tls_ports.0"),
        (
            "[tls]\nletsencrypt_shortchain = true",
            "tls.letsencrypt_shortchain",
        ),
        ("[web]\nadmin_path = \"admin\"", "web.admin_path"),
        ("[web]\nwebmail_path = \"/webmail/\"", "web.webmail_path"),
        ("[web]\napi_path = \"/admin\"", "web.api_path"),
        (
            "[web]\nwebroot_redirect = \"webmail\"",
            "web.webroot_redirect",
        ),
        ("[web]\nsite_name = \" \"", "web.site_name"),
        ("[web]\nwebsite = \"mailu.io\"", "web.website"),
        ("[web]\nlogo_url = \"ftp://x\"", "web.logo_url"),
        ("[web]\nlogo_background = \"#33 AA\"", "web.logo_background"),
        ("[web]\nsession_timeout = \"0s\"", "web.session_timeout"),
        (
            "[web]\nsession_timeout = \"2h\"\nsession_lifetime = \"1h\"",
            "web.session_lifetime",
        ),
        (
            "[web]\nrecaptcha_public_key = \"\"",
            "web.recaptcha_public_key",
        ),
        (
            "[web]\nroundcube_plugins = [\"ok\", \"not ok\"]",
            "web.roundcube_plugins.1",
        ),
        ("[features]\nwebmail = \"none\"", "web.webroot_redirect"),
        (
            "[features]\nwebmail = \"snappymail\"\n[web]\nroundcube_plugins = []",
            "web.roundcube_plugins",
        ),
        ("[auth]\nratelimit_ip = \"0/hour\"", "auth.ratelimit_ip"),
        ("[auth]\nratelimit_user = \"0/day\"", "auth.ratelimit_user"),
        (
            "[auth]\nratelimit_ip_v4_mask = 33",
            "auth.ratelimit_ip_v4_mask",
        ),
        (
            "[auth]\nratelimit_ip_v6_mask = 129",
            "auth.ratelimit_ip_v6_mask",
        ),
        ("[auth]\ncredential_rounds = 9", "auth.credential_rounds"),
        ("[auth]\ncredential_rounds = 17", "auth.credential_rounds"),
        ("[auth]\nproxy_header = \"\"", "auth.proxy_header"),
        ("[auth]\nproxy_create = true", "auth.proxy_create"),
        (
            "[auth]\nproxy_logout_url = \"/logout\"",
            "auth.proxy_logout_url",
        ),
        (
            "[antispam]\ndefault_spam_threshold = 101",
            "antispam.default_spam_threshold",
        ),
        ("[fetchmail]\ndelay = \"0s\"", "fetchmail.delay"),
        ("[fetchmail]\noptions = \"a\\nb\"", "fetchmail.options"),
        ("[welcome]\nsubject = \"a\\nb\"", "welcome.subject"),
        (
            "[welcome]\nenabled = true\nsubject = \"\"",
            "welcome.subject",
        ),
        ("[dkim]\nselector = \"\"", "dkim.selector"),
        ("[dkim]\nselector = \"-dkim\"", "dkim.selector"),
        ("[system]\ntz = \"../etc/passwd\"", "system.tz"),
        ("[system]\ntz = \"Europe/Berlin time\"", "system.tz"),
        ("[debounce]\nquiet = \"0s\"", "debounce.quiet"),
        (
            "[debounce]\nquiet = \"1m\"\nmax_delay = \"0s\"",
            "debounce.max_delay",
        ),
        (
            "[debounce]\nquiet = \"1m\"\nmax_delay = \"30s\"",
            "debounce.quiet",
        ),
        ("[history]\nkeep_last = 0", "history.keep_last"),
        ("[history]\nkeep_days = 40000", "history.keep_days"),
    ] {
        let found = fields(rest);
        assert!(
            found.iter().any(|f| f == field),
            "{rest:?}: expected a problem at {field}, got {:?}",
            problems(rest)
        );
    }
}

#[test]
fn problems_are_all_reported_at_once() {
    let found = fields(
        "[history]\nkeep_last = 0\n[debounce]\nquiet = \"0s\"\n[auth]\ncredential_rounds = 99",
    );
    assert_eq!(
        found,
        [
            "auth.credential_rounds",
            "debounce.quiet",
            "history.keep_last"
        ]
    );
}

#[test]
fn good_values_pass() {
    let rest = r#"
[mail]
domain = "Bücher.example"
hostnames = ["mail.bücher.example", "mx2.bücher.example"]
recipient_delimiter = "+-"
message_ratelimit_exemption = ["boss@bücher.example", "partner.example"]
wildcard_senders = ["noreply@bücher.example"]
[outbound]
relay_host = "[2001:db8::25]:587"
relay_user = "mailu@relay.example"
[network]
subnet6 = "fd00:1234::/64"
relaynets = ["198.51.100.0/24", "2001:db8:1::/48"]
real_ip_header = "X-Forwarded-For"
real_ip_from = ["10.0.0.1/32"]
proxy_protocol = ["mail", "443"]
[tls]
flavor = "mail-letsencrypt"
letsencrypt_shortchain = true
[features]
webmail = "none"
[web]
webroot_redirect = ""
[history]
keep_days = 0
cleanup_schedule = "@daily"
repack_schedule = "15 2 1 * sun"
"#;
    assert_eq!(problems(rest), []);
}

#[test]
fn derived_values() {
    let mut s = Settings::default();
    assert_eq!(s.hostname().unwrap().as_str(), "mail.example.com");
    assert_eq!(s.postmaster().to_string(), "postmaster@example.com");
    assert_eq!(s.http_body_limit(), 50_000_000 + 8_388_608);
    assert_eq!(s.webmail_max_filesize_mib(), 31);
    assert!(s.port_open(465) && s.port_tls(465) && !s.port_tls(25) && !s.port_open(110));
    assert!(s.session_cookie_secure());
    let (rua, ruf) = s.dmarc_addresses();
    assert_eq!(rua.unwrap().to_string(), "postmaster@example.com");
    assert!(ruf.is_some());
    s.tls.flavor = TlsFlavor::Notls;
    // "notls" takes TLS off the web only: mail keeps its implicit-TLS ports.
    assert!(s.port_open(25) && s.port_open(465) && s.port_tls(465) && !s.session_cookie_secure());
    assert!(!s.port_open(443) && !s.port_tls(443));
    s.network.proxy_protocol = vec![ProxyProtocol::All, ProxyProtocol::Port(8025)];
    let ports: Vec<u16> = s.network.proxy_protocol_ports().into_iter().collect();
    assert_eq!(
        ports,
        [25, 80, 110, 143, 443, 465, 587, 993, 995, 4190, 8025]
    );
    assert_eq!(
        secrets::relay_password().to_string(),
        "settings/relay_password"
    );
}

#[test]
fn history_keeps_last_n_or_younger_than_d_days() {
    let h = History {
        keep_last: 2,
        keep_days: 1,
        ..History::default()
    };
    let hour = std::time::Duration::from_secs(3600);
    assert!(h.keeps(0, hour * 1000));
    assert!(h.keeps(1, hour * 1000));
    assert!(h.keeps(5, hour * 23));
    assert!(!h.keeps(2, hour * 24));
    let zero_days = History { keep_days: 0, ..h };
    assert!(!zero_days.keeps(2, std::time::Duration::ZERO));
}

#[test]
fn the_example_identity_is_named_field_by_field() {
    let fields =
        |mail: &Mail| -> Vec<String> { mail.placeholders().into_iter().map(|p| p.field).collect() };
    let mut mail = Mail::default();
    assert_eq!(fields(&mail), ["mail.domain", "mail.hostnames"]);
    mail.domain = DomainName::parse("one.test").unwrap();
    assert_eq!(fields(&mail), ["mail.hostnames"]);
    mail.hostnames = vec![
        DomainName::parse("mx.one.test").unwrap(),
        DomainName::parse("a.b.example.com").unwrap(),
    ];
    assert_eq!(fields(&mail), ["mail.hostnames"]);
    mail.hostnames.pop();
    assert!(fields(&mail).is_empty());
    // Only the example domain itself and names under it: `notexample.com` is someone's.
    mail.domain = DomainName::parse("notexample.com").unwrap();
    assert!(fields(&mail).is_empty());
}
