//! TODO(password): being built.
