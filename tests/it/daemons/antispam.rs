//! Daemon checks of the rendered antispam files, in the bookworm image.
