//! Scene hot reload: the active scene file is also loaded through the asset
//! server (rooted at the scene's folder, watched for changes); a modified,
//! valid file replaces the active scene, an invalid one is reported with its
//! file:line:col while the running world stays.

use std::path::Path;

use bevy::asset::AssetLoadFailedEvent;
use bevy::prelude::*;

use super::GuiConfig;
use super::actions::{GuiAction, PendingActions};
use crate::scene::{ActiveScene, SceneAsset};

/// The scene file being watched and the last load error.
#[derive(Resource, Debug, Default)]
pub struct SceneWatch {
    /// The asset handle of the active scene file (None when it lies outside
    /// the watched folder).
    pub handle: Option<Handle<SceneAsset>>,
    /// The last load or validation error, shown in the window.
    pub error: Option<String>,
    /// Reloads applied so far.
    pub reloads: u32,
}

/// Starts watching `path` (relative to the watched folder); replaces any
/// previous watch.
pub fn start_watching(world: &mut World, path: &Path) {
    let dir = world.get_resource::<GuiConfig>().map(|c| c.scene_dir.clone());
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let relative = dir.as_deref().and_then(|d| absolute.strip_prefix(d).ok()).map(Path::to_path_buf);
    let handle = match (relative, world.get_resource::<AssetServer>()) {
        (Some(rel), Some(server)) => Some(server.load::<SceneAsset>(rel.to_string_lossy().replace('\\', "/"))),
        _ => None,
    };
    match world.get_resource_mut::<SceneWatch>() {
        Some(mut w) => {
            w.handle = handle;
            w.error = None;
        }
        None => world.insert_resource(SceneWatch { handle, error: None, reloads: 0 }),
    }
}

/// Control: a changed, valid scene file is queued to become the active
/// scene; a failed load is remembered for the error banner.
pub fn watch_scene_assets(
    mut events: MessageReader<AssetEvent<SceneAsset>>,
    mut failed: MessageReader<AssetLoadFailedEvent<SceneAsset>>,
    assets: Res<Assets<SceneAsset>>,
    active: Res<ActiveScene>,
    mut watch: ResMut<SceneWatch>,
    mut pending: ResMut<PendingActions>,
) {
    let Some(id) = watch.handle.as_ref().map(Handle::id) else {
        events.clear();
        failed.clear();
        return;
    };
    let mut changed = false;
    for ev in events.read() {
        if let AssetEvent::Added { id: e }
        | AssetEvent::Modified { id: e }
        | AssetEvent::LoadedWithDependencies { id: e } = ev
            && *e == id
        {
            changed = true;
        }
    }
    for ev in failed.read() {
        if ev.id == id {
            warn!("scene reload failed: {}", ev.error);
            // The first line carries file:line:col and the message; the rest is a backtrace.
            let text = ev.error.to_string();
            watch.error = Some(text.lines().next().unwrap_or_default().to_owned());
        }
    }
    if !changed {
        return;
    }
    let Some(asset) = assets.get(id) else { return };
    watch.error = None;
    if asset.scene != active.scene {
        info!("the scene file changed: rebuilding the world");
        watch.reloads += 1;
        pending.0.push(GuiAction::ReplaceScene(Box::new(asset.scene.clone())));
    }
}
