//! What the panels ask for that needs the whole world (rebuilds, policy
//! files, scene files): queued as [`GuiAction`]s and applied by one exclusive
//! system before the simulation steps of the frame.

use std::path::{Path, PathBuf};

use bevy::prelude::*;

use super::ViewSettings;
use super::logic::next_free_path;
use super::panels::{EpisodeSeries, PanelState};
use super::reload::SceneWatch;
use crate::comm::{CommSettings, MessageLog};
use crate::learn::{Hyperparameters, PolicyFile, PolicyFileError, PolicyMeta, QTable, load_policy, save_policy};
use crate::metrics::EpisodeLog;
use crate::scene::{ActiveScene, Scene, load_scene_file, scene_to_ron};
use crate::world::{Episode, PolicyOrder, RunConfig};

/// One request from the panels.
#[derive(Debug, Clone, PartialEq)]
pub enum GuiAction {
    /// New layout for the next episode index; policies and live edits kept.
    ResetEpisode,
    /// Read the active scene file again and rebuild (fresh policies).
    ReloadScene,
    /// The watched scene file changed: make this the active scene.
    ReplaceScene(Box<Scene>),
    /// Switch to another scene file.
    OpenScene(PathBuf),
    /// Save every Q-table to a policy file.
    SavePolicy(PathBuf),
    /// Load Q-tables from a policy file into the live tables.
    LoadPolicy(PathBuf),
    /// Write the active scene with the live hyperparameters and channel
    /// settings to a new RON file next to it.
    SaveSceneDefaults,
}

/// Actions queued by the panels this frame.
#[derive(Resource, Debug, Default)]
pub struct PendingActions(pub Vec<GuiAction>);

/// Control: applies the queued actions; results go to the panel's status line.
pub fn apply_gui_actions(world: &mut World) {
    let actions = std::mem::take(&mut world.resource_mut::<PendingActions>().0);
    for action in actions {
        let result = apply_one(world, &action);
        let mut panel = world.resource_mut::<PanelState>();
        match result {
            Ok(message) => panel.status = Some((false, message)),
            Err(message) => panel.status = Some((true, message)),
        }
    }
}

fn apply_one(world: &mut World, action: &GuiAction) -> Result<String, String> {
    match action {
        GuiAction::ResetEpisode => {
            reset_episode(world);
            Ok("new episode started (policies kept)".into())
        }
        GuiAction::ReloadScene => {
            let path = world.resource::<ActiveScene>().path.clone().ok_or("the scene has no file")?;
            open_scene(world, &path)
        }
        GuiAction::OpenScene(path) => open_scene(world, path),
        GuiAction::ReplaceScene(scene) => {
            let path = world.resource::<ActiveScene>().path.clone().unwrap_or_default();
            let name = scene.name.clone();
            replace_scene(world, (**scene).clone(), path);
            Ok(format!("scene `{name}` reloaded from its file"))
        }
        GuiAction::SavePolicy(path) => {
            save_live_policy(world, path).map_err(|e| e.to_string())?;
            Ok(format!("policy saved to {}", path.display()))
        }
        GuiAction::LoadPolicy(path) => {
            let file = load_policy(path).map_err(|e| e.to_string())?;
            apply_policy_file(world, &file, &path.display().to_string()).map_err(|e| e.to_string())?;
            Ok(format!("policy loaded from {} ({} episodes trained)", path.display(), file.meta.episodes))
        }
        GuiAction::SaveSceneDefaults => save_scene_defaults(world).map(|p| format!("scene written to {}", p.display())),
    }
}

/// Copies every live Q-table, rebuilds the world for the next episode index,
/// and puts the tables and the live hyperparameters/channel back.
pub fn reset_episode(world: &mut World) {
    let tables = live_tables(world);
    let hyper = *world.resource::<Hyperparameters>();
    let comm = *world.resource::<CommSettings>();
    let next = world.get_resource::<Episode>().map_or(0, |e| e.index + 1);
    world.resource_mut::<RunConfig>().first_episode = next;
    crate::world::build_world(world);
    world.insert_resource(hyper);
    world.insert_resource(comm);
    let mut q = world.query::<&mut QTable>();
    for mut table in q.iter_mut(world) {
        if let Some(old) = tables.iter().find(|t| t.name == table.name && t.q.len() == table.q.len()) {
            table.q.copy_from_slice(&old.q);
            table.visits.copy_from_slice(&old.visits);
        }
    }
    world.resource_mut::<MessageLog>().entries.clear();
}

fn live_tables(world: &mut World) -> Vec<QTable> {
    let order = world.resource::<PolicyOrder>().0.clone();
    order.iter().filter_map(|&e| world.get::<QTable>(e).cloned()).collect()
}

/// Loads and validates a scene file and makes it the active scene (fresh
/// world, episode 0, empty logs); on error the running world stays.
pub fn open_scene(world: &mut World, path: &Path) -> Result<String, String> {
    let scene = load_scene_file(path).map_err(|e| e.to_string())?;
    let name = scene.name.clone();
    replace_scene(world, scene, path.to_path_buf());
    super::reload::start_watching(world, path);
    Ok(format!("loaded scene `{name}` from {}", path.display()))
}

/// Makes `scene` the active one; the world rebuilds this frame.
pub fn replace_scene(world: &mut World, scene: Scene, path: PathBuf) {
    let seed = scene.seed;
    {
        let mut run = world.resource_mut::<RunConfig>();
        run.first_episode = 0;
        run.seed = seed;
    }
    world.resource_mut::<ActiveScene>().replace(scene, Some(path));
    world.resource_mut::<EpisodeLog>().rows.clear();
    world.resource_mut::<MessageLog>().entries.clear();
    *world.resource_mut::<EpisodeSeries>() = EpisodeSeries::default();
    let mut view = world.resource_mut::<ViewSettings>();
    view.needs_fit = true;
    view.selected = Some(0);
    if let Some(mut watch) = world.get_resource_mut::<SceneWatch>() {
        watch.error = None;
    }
}

/// Writes every live Q-table (in policy order) with the run's metadata.
pub fn save_live_policy(world: &mut World, path: &Path) -> Result<(), PolicyFileError> {
    let tables = live_tables(world);
    let refs: Vec<&QTable> = tables.iter().collect();
    let meta = PolicyMeta {
        scene: world.resource::<ActiveScene>().scene.name.clone(),
        episodes: world.get_resource::<Episode>().map_or(0, |e| e.index),
        hyperparameters: *world.resource::<Hyperparameters>(),
    };
    save_policy(path, &refs, &meta)
}

/// Copies a policy file's tables into the live tables (all or nothing).
pub fn apply_policy_file(world: &mut World, file: &PolicyFile, label: &str) -> Result<(), PolicyFileError> {
    let mut copies = live_tables(world);
    file.apply_to(copies.iter_mut(), label)?;
    let mut q = world.query::<&mut QTable>();
    for mut table in q.iter_mut(world) {
        if let Some(new) = copies.iter().find(|t| t.name == table.name) {
            table.q.copy_from_slice(&new.q);
        }
    }
    Ok(())
}

/// The active scene with the live hyperparameters and channel settings,
/// written to a new `<stem>-defaults-<n>.ron` next to it (never over a file).
fn save_scene_defaults(world: &mut World) -> Result<PathBuf, String> {
    let active = world.resource::<ActiveScene>();
    let mut scene = active.scene.clone();
    let source = active.path.clone().unwrap_or_else(|| PathBuf::from("scene.ron"));
    scene.hyperparameters = *world.resource::<Hyperparameters>();
    let comm = *world.resource::<CommSettings>();
    scene.comm = comm.mode;
    scene.channel = comm.channel;
    let text = scene_to_ron(&scene).map_err(|e| format!("cannot write the scene as RON: {e}"))?;
    // The file must load back exactly as it is written.
    crate::scene::parse_scene(&text, "new scene").map_err(|e| format!("the edited scene is not valid: {e}"))?;
    let dir = source.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("scene").to_owned();
    let header = format!(
        "// Written by `colony run` from {}: the live hyperparameters and channel settings.\n",
        source.display()
    );
    for _ in 0..8 {
        let path = next_free_path(&dir, &stem, |p| p.exists());
        // create_new: if someone created the file in between, try the next name.
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(header.as_bytes())
                    .and_then(|()| f.write_all(text.as_bytes()))
                    .and_then(|()| f.write_all(b"\n"))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
    }
    Err("could not find a free file name".into())
}
