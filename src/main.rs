//! The `mailu-git` binary: parses the command line, sets up logging and hands over to the library.
//! Exit codes: 0 success, 1 error, 2 usage error, 3 the configuration is invalid (see `mailu_git::cli`).

use std::process::ExitCode;

fn main() -> ExitCode {
    mailu_git::cli::main()
}
