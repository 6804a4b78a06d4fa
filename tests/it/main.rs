//! Integration tests: real scene files, real Bevy Apps built with the
//! program's plugins, and the real binary.

mod common;
mod e2e;
mod runs;
mod scenes;
mod sim;
