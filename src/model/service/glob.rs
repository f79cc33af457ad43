//! Matching container paths against the globs of a service file (`reload.paths`, `files.path`):
//! `*` matches within one path component, `**` matches any number of whole components, `?` one
//! character. No character classes: the service files do not need them.

/// Whether absolute `path` matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    components(&p, &s)
}

fn components(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| components(rest, &s[i..])),
        Some((first, rest)) => match s.split_first() {
            Some((name, s_rest)) => component(first, name) && components(rest, s_rest),
            None => false,
        },
    }
}

fn component(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    go(&p, &s)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("/etc/postfix/*.cf", "/etc/postfix/main.cf"));
        assert!(!matches("/etc/postfix/*.cf", "/etc/postfix/maps/x.cf"));
        assert!(matches("/etc/postfix/**", "/etc/postfix/maps/x.cf"));
        assert!(matches("/etc/**/x.cf", "/etc/x.cf"));
        assert!(matches("/etc/nginx/nginx.conf", "/etc/nginx/nginx.conf"));
        assert!(!matches(
            "/etc/nginx/nginx.conf",
            "/etc/nginx/nginx.conf.bak"
        ));
        assert!(matches("/a/?.txt", "/a/b.txt"));
    }
}
