//! How a secret's value is written where a placeholder stood: verbatim, or escaped for the quoted
//! string the placeholder sits in. A value the mode cannot express (a NUL byte anywhere, since
//! daemons read their files as C strings) is refused, never written half-broken.
//!
//! The mode is the placeholder's optional last field (`@@mailu-secret:fetch/3:<blob>:fetchmail@@`),
//! written by the template function `secret(kind, name, escape="quoted")`; placeholders without one
//! are filled verbatim, as before modes existed.

use std::fmt;

/// An escaping mode of a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Escape {
    /// The value as it is (a PEM key: newlines are part of it). Refuses only NUL.
    #[default]
    Raw,
    /// The inside of a C-style double-quoted string: `\\`, `\"`, `\n`, `\r`, `\t`, and other
    /// control bytes as three-digit octal `\ooo` (postfix, dovecot, nginx and rspamd strings).
    Quoted,
    /// The inside of a fetchmailrc string, whose lexer ends a string at the first `"` (it has no
    /// `\"`): `\`, `"` and control bytes become `\xHH`, which fetchmail decodes.
    Fetchmail,
}

impl Escape {
    /// The mode a placeholder names, `None` for an unknown one.
    pub fn parse(raw: &str) -> Option<Escape> {
        match raw {
            "quoted" => Some(Escape::Quoted),
            "fetchmail" => Some(Escape::Fetchmail),
            _ => None,
        }
    }

    /// The mode's name in a placeholder; `None` for [`Escape::Raw`], which has none.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Escape::Raw => None,
            Escape::Quoted => Some("quoted"),
            Escape::Fetchmail => Some("fetchmail"),
        }
    }

    /// Appends `value`, escaped, to `out`. Fails, naming the reason, on what the mode cannot
    /// express; `out` may then hold part of the value, so the caller must drop it.
    pub fn write(self, value: &str, out: &mut String) -> Result<(), &'static str> {
        if value.contains('\0') {
            return Err("it holds a NUL byte, which no configuration file can carry");
        }
        match self {
            Escape::Raw => out.push_str(value),
            Escape::Quoted => {
                for c in value.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '"' => out.push_str("\\\""),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if c.is_ascii_control() => out.push_str(&format!("\\{:03o}", c as u32)),
                        c => out.push(c),
                    }
                }
            }
            Escape::Fetchmail => {
                for c in value.chars() {
                    match c {
                        '\\' | '"' => out.push_str(&format!("\\x{:02x}", c as u32)),
                        c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                        c => out.push(c),
                    }
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Escape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().unwrap_or("raw"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(mode: Escape, value: &str) -> Result<String, &'static str> {
        let mut out = String::new();
        mode.write(value, &mut out).map(|()| out)
    }

    #[test]
    fn modes_escape_what_their_strings_cannot_hold() {
        let nasty = "a\"b\\c\nd\te\u{1}é";
        assert_eq!(esc(Escape::Raw, nasty).unwrap(), nasty);
        assert_eq!(
            esc(Escape::Quoted, nasty).unwrap(),
            "a\\\"b\\\\c\\nd\\te\\001é"
        );
        assert_eq!(
            esc(Escape::Fetchmail, nasty).unwrap(),
            "a\\x22b\\x5cc\\x0ad\\x09e\\x01é"
        );
    }

    #[test]
    fn nul_is_refused_in_every_mode() {
        for mode in [Escape::Raw, Escape::Quoted, Escape::Fetchmail] {
            assert!(esc(mode, "a\0b").unwrap_err().contains("NUL"), "{mode}");
        }
    }

    #[test]
    fn names_round_trip() {
        for mode in [Escape::Quoted, Escape::Fetchmail] {
            assert_eq!(Escape::parse(mode.name().unwrap()), Some(mode));
        }
        assert_eq!(Escape::parse("raw"), None);
        assert_eq!(Escape::parse("sql"), None);
    }
}
