//! Daemon checks of the rendered front files, in the bookworm image.
