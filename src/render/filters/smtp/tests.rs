use super::*;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn main_edit_replaces_in_place_appends_new_and_the_last_definition_wins() {
    let base = "# head\nmyhostname = a\nsmtpd_milters =\n  inet:x:1,\n  inet:y:2\nrelayhost =\n";
    let edits = "# a comment\n\nsmtpd_milters = inet:z:3\nmessage_size_limit=10\n\
                 message_size_limit = 20\nnot a parameter\n";
    assert_eq!(
        main_edit(base, edits),
        "# head\nmyhostname = a\nsmtpd_milters = inet:z:3\nrelayhost =\n\
         \n# From mailu-overrides/postfix/postfix.cf.\nmessage_size_limit = 20\n"
    );
}

#[test]
fn main_edit_without_overrides_keeps_the_file() {
    let base = "a = 1\n  continued\n# c\nb = 2\n";
    assert_eq!(main_edit(base, ""), base);
}

#[test]
fn main_edit_does_not_touch_commented_parameters() {
    assert_eq!(
        main_edit("# relayhost = x\n", "relayhost = y"),
        "# relayhost = x\n\n# From mailu-overrides/postfix/postfix.cf.\nrelayhost = y\n"
    );
}

#[test]
fn main_problems_name_the_file_and_line() {
    let problems = main_problems(
        "a = 1\n\njust words\n = 3\n",
        "mailu-overrides/postfix/postfix.cf",
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("mailu-overrides/postfix/postfix.cf line 3: `just words`"));
    assert!(problems[1].contains("line 4"));
}

#[test]
fn master_edit_replaces_an_entry_with_its_options() {
    let base = "# c\nsmtp      inet  n - n - - smtpd\nsubmission inet n - n - - smtpd\n  -o a=b\n  -o c=d\npickup unix n - n 60 1 pickup\n";
    let edits = "submission/inet=submission inet n - n - 10 smtpd -o x=y\n\
                 flush/unix = flush unix n - n 1000? 0 flush\n";
    assert_eq!(
        master_edit(base, edits),
        "# c\nsmtp      inet  n - n - - smtpd\nsubmission inet n - n - 10 smtpd -o x=y\n\
         pickup unix n - n 60 1 pickup\n\
         \n# From mailu-overrides/postfix/postfix.master.\nflush unix n - n 1000? 0 flush\n"
    );
}

#[test]
fn master_problems_refuse_short_or_mismatched_entries() {
    let problems = master_problems(
        "smtp/inet=smtp inet n - n - 1 postscreen\nsmtp/inet=smtp inet n\nsmtp/inet=smtpd inet n - n - 1 smtpd\nno slash = x\n",
        "f",
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("f line 2:"));
    assert!(problems[1].contains("names `smtp/inet`"));
    assert!(problems[2].contains("service/type"));
}

#[test]
fn like_prefix_knows_what_a_pattern_can_start_with() {
    let p = |s: &str| s.chars().collect::<Vec<_>>();
    assert!(like_prefix(&p("sales%"), &p("salesman+")));
    assert!(!like_prefix(&p("sales%"), &p("sale+")));
    assert!(like_prefix(&p("%-x"), &p("anything+")));
    assert!(like_prefix(&p("a_c%"), &p("abc+")));
    assert!(!like_prefix(&p("a_c"), &p("abc+")));
    assert!(like_prefix(&p("ab"), &p("a")));
}

#[test]
fn tagged_names_are_the_exact_names_a_wildcard_rule_would_steal() {
    let exact = names(&["alice", "salesman", "bob", "ax", "a+b"]);
    let wild = names(&["sales%", "%"]);
    assert_eq!(tagged_names(&exact, &wild, "+", true), names(&["salesman"]));
    // `%x` matches `ax` itself, and with `whole` every `name+...x`.
    let wild = names(&["%x"]);
    assert_eq!(tagged_names(&exact, &wild, "+", false), names(&["ax"]));
    assert_eq!(
        tagged_names(&exact, &wild, "+", true),
        names(&["alice", "salesman", "bob", "ax"])
    );
    assert!(tagged_names(&exact, &wild, "", true).is_empty());
}

#[test]
fn like_untagged_never_crosses_a_delimiter() {
    assert_eq!(like_untagged("sales%", "+").as_deref(), Some("sales[^@+]*"));
    assert_eq!(
        like_untagged("a_b.c", "+-").as_deref(),
        Some("a[^@+-]b\\.c")
    );
    assert_eq!(like_untagged("x%", "^]/").as_deref(), Some("x[^]@\\/^]*"));
    assert_eq!(like_untagged("sales+%", "+"), None);
}
