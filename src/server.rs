//! TODO(server): being built.
