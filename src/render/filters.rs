//! Filters and functions templates may use besides minijinja's own. Each service's helpers live in
//! a file of their own under `filters/`.

use minijinja::Environment;

use super::context::regex_escape;

pub mod smtp;

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_escape", |s: String| regex_escape(&s));
    smtp::register(env);
}
