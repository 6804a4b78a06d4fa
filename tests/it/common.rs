//! Shared helpers for the integration tests.

use std::path::PathBuf;

use colony::scene::{Scene, load_scene_file};

/// Path of a shipped scene.
pub fn scene_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenes").join(format!("{name}.ron"))
}

/// A shipped scene, parsed and validated.
pub fn shipped(name: &str) -> Scene {
    match load_scene_file(&scene_path(name)) {
        Ok(s) => s,
        Err(e) => panic!("shipped scene {name} must load: {e}"),
    }
}

/// The names of all shipped scenes.
pub const SHIPPED: [&str; 5] = ["foraging", "heavy_lift", "predator_prey", "task_allocation", "babel"];
