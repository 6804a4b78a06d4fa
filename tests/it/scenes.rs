//! Scene loading: every shipped file, the asset loader, and bad input with
//! its file:line:column.

use std::time::{Duration, Instant};

use bevy::asset::{AssetPlugin, AssetServer, Assets};
use bevy::prelude::*;
use colony::scene::{SceneAsset, SceneError, parse_scene};

use crate::common::{SHIPPED, scene_path, shipped};

#[test]
fn every_shipped_scene_loads() {
    for name in SHIPPED {
        let s = shipped(name);
        assert_eq!(s.name, name);
        assert!(!s.teams.is_empty() && !s.resources.is_empty());
    }
}

#[test]
fn the_asset_loader_reads_a_shipped_scene_through_the_asset_server() {
    let mut app = App::new();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenes");
    app.add_plugins(MinimalPlugins)
        .add_plugins(AssetPlugin { file_path: dir.display().to_string(), ..Default::default() })
        .add_plugins(colony::SimPlugin);
    app.finish();
    app.cleanup();
    let handle: Handle<SceneAsset> = app.world().resource::<AssetServer>().load("heavy_lift.ron");
    let start = Instant::now();
    loop {
        app.update();
        if let Some(asset) = app.world().resource::<Assets<SceneAsset>>().get(&handle) {
            assert_eq!(asset.scene, shipped("heavy_lift"));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the scene asset never loaded");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Parses foraging.ron with `from` replaced by `to`; returns the error and
/// the 1-based line where the replacement sits.
fn broken(from: &str, to: &str) -> (SceneError, usize) {
    let text = std::fs::read_to_string(scene_path("foraging")).expect("read foraging.ron");
    let at = text.find(from).unwrap_or_else(|| panic!("{from:?} not in foraging.ron"));
    let line = text[..at].matches('\n').count() + 1;
    let bad = text.replacen(from, to, 1);
    match parse_scene(&bad, "foraging.ron") {
        Ok(_) => panic!("replacing {from:?} by {to:?} should be rejected"),
        Err(e) => (e, line),
    }
}

fn message(e: &SceneError) -> String {
    e.to_string()
}

#[test]
fn a_typo_in_a_field_name_points_at_it() {
    let (e, line) = broken("vision_radius: 2", "vison_radius: 2");
    assert_eq!(e.position().map(|p| p.0), Some(line));
    assert!(message(&e).starts_with(&format!("foraging.ron:{line}:")), "{e}");
    assert!(message(&e).contains("vison_radius"), "{e}");
}

#[test]
fn a_wrong_type_points_at_the_value() {
    let (e, line) = broken("episode_steps: 200", "episode_steps: \"long\"");
    assert_eq!(e.position().map(|p| p.0), Some(line), "{e}");
}

#[test]
fn a_negative_radius_is_rejected_with_its_place() {
    let (e, line) = broken("vision_radius: 2", "vision_radius: -2");
    let (l, col) = e.position().expect("position");
    assert_eq!(l, line, "{e}");
    assert!((20..=21).contains(&col), "should point into `-2`: {e}");
    assert!(message(&e).contains("out of range"), "{e}");
}

#[test]
fn an_agent_on_a_wall_is_rejected_with_its_place() {
    let (e, line) = broken("(name: \"ants\", agents: 6,", "(name: \"ants\", start: [(3, 3), (0, 0)], agents: 6,");
    let (l, col) = e.position().expect("position");
    assert_eq!(l, line);
    assert_eq!(col, 40, "should point at the second start cell: {e}");
    assert!(message(&e).contains("(0, 0) is a wall"), "{e}");
}

#[test]
fn more_agents_than_free_cells_is_rejected() {
    let (e, line) = broken("agents: 6", "agents: 600");
    assert_eq!(e.position().map(|p| p.0), Some(line));
    assert!(message(&e).contains("do not fit"), "{e}");
}

#[test]
fn a_ragged_layout_row_is_rejected_at_that_row() {
    let (e, line) = broken("\"#.....####...........#\",", "\"#.....####..........#\",");
    assert_eq!(e.position().map(|p| p.0), Some(line));
    assert!(message(&e).contains("equally long"), "{e}");
}

#[test]
fn an_unknown_layout_character_is_rejected_at_its_column() {
    let (e, line) = broken("\"#.....####...........#\",", "\"#.....####....X......#\",");
    // The row string starts at column 9 (its quote); X is its 16th character.
    assert_eq!(e.position(), Some((line, 9 + 15)), "{e}");
}

#[test]
fn an_out_of_range_hyperparameter_is_rejected_at_its_field() {
    let (e, line) = broken("gamma: 0.95", "gamma: 1.5");
    assert_eq!(e.position().map(|p| p.0), Some(line));
    assert!(message(&e).contains("gamma"), "{e}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let e = colony::scene::load_scene_file(std::path::Path::new("/nonexistent/scene.ron")).expect_err("missing");
    assert!(e.to_string().contains("/nonexistent/scene.ron"));
}
