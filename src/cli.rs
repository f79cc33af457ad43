//! TODO(cli): being built.
