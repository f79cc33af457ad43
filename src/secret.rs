//! TODO(secret): being built.
