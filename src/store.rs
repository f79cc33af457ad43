//! TODO(store): being built.
