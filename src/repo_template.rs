//! TODO(repo_template): being built.
