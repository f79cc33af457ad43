//! Store tests on real temporary bare repositories, inspected with the real `git` binary.
