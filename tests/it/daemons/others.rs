//! Daemon checks of the rendered others files, in the bookworm image.
