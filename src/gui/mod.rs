//! The windowed simulator (feature `gui`): drawing, egui panels, inspector,
//! screenshot mode. Owns no simulation state; it views and edits it.
//!
//! The App is `DefaultPlugins` (no audio, no gamepad) + [`crate::SimPlugin`] +
//! [`plugin`]. Submodules: [`view`] draws the world and moves the camera,
//! [`panels`] holds the egui panels, [`actions`] applies what the panels ask
//! for (exclusive world edits), [`reload`] watches the scene file, and
//! [`logic`] keeps the pure, tested helpers.

mod actions;
pub mod logic;
mod panels;
mod reload;
mod view;

use std::path::{Path, PathBuf};
use std::time::Instant;

use bevy::asset::AssetPlugin;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use bevy::window::{PresentMode, WindowResolution};
use bevy_egui::{EguiPlugin, EguiPrimaryContextPass};

use crate::learn::{PolicyMode, load_policy};
use crate::scene::{ActiveScene, load_scene_file};
use crate::world::RunConfig;

pub use actions::GuiAction;

/// `colony run`: open the window on a scene.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The scene file.
    pub scene: PathBuf,
    /// A policy.safetensors to load.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Save a PNG of the window after `--frames` frames and exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Frames to run before the screenshot.
    #[arg(long, default_value_t = 120)]
    pub frames: u32,
    /// Simulation steps per frame at start (0 starts paused).
    #[arg(long, default_value_t = 1)]
    pub speed: u32,
    /// Play greedily (no exploration, no learning), e.g. to watch a trained policy.
    #[arg(long)]
    pub greedy: bool,
    /// Run seed (default: the scene's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Window width in logical pixels.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    /// Window height in logical pixels.
    #[arg(long, default_value_t = 800)]
    pub height: u32,
}

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    /// The scene file is missing or invalid.
    #[error(transparent)]
    Scene(#[from] crate::scene::SceneError),
    /// The policy file could not be used.
    #[error(transparent)]
    Policy(#[from] crate::learn::PolicyFileError),
    /// The App ended with an error.
    #[error("the window exited with an error (code {0})")]
    Exit(u8),
    /// Screenshot mode ended without writing the file.
    #[error("no screenshot was written to {0}")]
    NoScreenshot(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// How this window was started (read-only for the systems).
#[derive(Resource, Debug, Clone, Default)]
pub struct GuiConfig {
    /// Folder the scene picker lists and the asset server watches.
    pub scene_dir: PathBuf,
    /// Save a PNG here after `frames` frames, then exit.
    pub screenshot: Option<PathBuf>,
    /// Frames before the screenshot.
    pub frames: u32,
}

/// What the view shows and what is selected (GUI-only state).
#[derive(Resource, Debug, Clone)]
pub struct ViewSettings {
    /// Id of the agent shown in the inspector.
    pub selected: Option<u32>,
    /// Draw each agent's vision square.
    pub show_vision: bool,
    /// Colour floor cells by the learned state value.
    pub show_heat: bool,
    /// Draw message lines.
    pub show_messages: bool,
    /// Draw the message text next to senders.
    pub show_labels: bool,
    /// Draw the cell each agent heads for.
    pub show_headings: bool,
    /// Steps a message line takes to fade.
    pub fade_steps: u32,
    /// Fit the grid into the view on the next frame.
    pub needs_fit: bool,
    /// The part of the window not covered by panels (logical px, window coords).
    pub view_rect: Option<Rect>,
}

impl Default for ViewSettings {
    fn default() -> Self {
        Self {
            selected: Some(0),
            show_vision: false,
            show_heat: false,
            show_messages: true,
            show_labels: true,
            show_headings: true,
            fade_steps: 6,
            needs_fit: true,
            view_rect: None,
        }
    }
}

/// Play/pause and speed (the GUI writes `StepsPerUpdate` from it each frame).
#[derive(Resource, Debug, Clone)]
pub struct SpeedControl {
    /// Paused.
    pub paused: bool,
    /// Steps per frame while playing.
    pub steps_per_frame: u32,
    /// Pick steps per frame to keep the simulation near its frame budget.
    pub max_speed: bool,
    /// Run exactly one step on the next frame (while paused).
    pub single_step: bool,
}

/// Measured time per frame of the simulation, the view and the UI (ms).
#[derive(Resource, Debug, Clone, Default)]
pub struct FrameTimes {
    /// Simulation steps of this frame.
    pub sim_ms: f32,
    /// Drawing systems (sprites, gizmos) of this frame.
    pub view_ms: f32,
    /// egui panels of the last frame.
    pub ui_ms: f32,
    /// Smoothed wall time between frames.
    pub frame_ms: f32,
    /// Steps run this frame.
    pub steps: u32,
    started: Option<Instant>,
}

impl FrameTimes {
    fn smooth(old: f32, new: f32) -> f32 {
        if old == 0.0 { new } else { old * 0.9 + new * 0.1 }
    }
}

/// The GUI's systems, in the order they run within `Update`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuiSet {
    /// Applies panel actions and scene reloads; sets the speed.
    Control,
    /// Updates sprites and draws gizmos from the world after the steps.
    View,
}

/// The GuiPlugin: the view, the panels, hot reload and screenshot mode.
/// Needs `DefaultPlugins` (with an `AssetPlugin`) and `SimPlugin`.
pub fn plugin(app: &mut App) {
    if !app.is_plugin_added::<EguiPlugin>() {
        app.add_plugins(EguiPlugin::default());
    }
    app.init_resource::<ViewSettings>()
        .init_resource::<FrameTimes>()
        .init_resource::<actions::PendingActions>()
        .init_resource::<panels::PanelState>()
        .init_resource::<panels::EpisodeSeries>()
        .init_resource::<reload::SceneWatch>()
        .init_resource::<GuiConfig>()
        .insert_resource(ClearColor(Color::srgb(0.11, 0.12, 0.14)));
    if !app.world().contains_resource::<SpeedControl>() {
        app.insert_resource(SpeedControl { paused: false, steps_per_frame: 1, max_speed: false, single_step: false });
    }
    app.configure_sets(
        Update,
        (GuiSet::Control.before(crate::run_simulation_steps), GuiSet::View.after(crate::run_simulation_steps)),
    );
    app.add_systems(Startup, (enable_message_log, view::setup_view));
    app.add_systems(
        Update,
        (reload::watch_scene_assets, actions::apply_gui_actions, set_simulation_speed, start_sim_timer)
            .chain()
            .in_set(GuiSet::Control),
    );
    app.add_systems(
        Update,
        (
            stop_sim_timer,
            panels::record_episode_series,
            view::control_camera,
            view::fit_camera,
            view::sync_grid_image,
            view::sync_item_sprites,
            view::sync_agent_sprites,
            view::draw_overlays,
            stop_view_timer,
        )
            .chain()
            .in_set(GuiSet::View),
    );
    app.add_systems(EguiPrimaryContextPass, (panels::draw_panels, view::draw_labels).chain());
    app.add_systems(Last, take_screenshot_after_frames);
}

/// The log of messages feeds the lines and the Messages panel; headless runs
/// leave it off.
fn enable_message_log(mut log: ResMut<crate::comm::MessageLog>) {
    log.enabled = true;
    log.capacity = 400;
}

/// Writes `StepsPerUpdate` from play/pause/speed (and the adaptive max speed).
fn set_simulation_speed(
    mut speed: ResMut<SpeedControl>,
    times: Res<FrameTimes>,
    mut steps: ResMut<crate::StepsPerUpdate>,
) {
    if speed.max_speed && !speed.paused && times.steps > 0 && times.sim_ms > 0.0 {
        // Aim at ~8 ms of simulation per frame.
        let per_step = times.sim_ms / times.steps as f32;
        let target = (8.0 / per_step.max(1e-4)).clamp(1.0, 5000.0);
        speed.steps_per_frame = (speed.steps_per_frame as f32 * 0.7 + target * 0.3).round().max(1.0) as u32;
    }
    steps.steps = if speed.paused { u32::from(std::mem::take(&mut speed.single_step)) } else { speed.steps_per_frame };
}

fn start_sim_timer(mut times: ResMut<FrameTimes>, steps: Res<crate::StepsPerUpdate>) {
    times.started = Some(Instant::now());
    times.steps = steps.steps;
}

fn stop_sim_timer(mut times: ResMut<FrameTimes>, time: Res<Time>) {
    let now = Instant::now();
    let sim = times.started.map_or(0.0, |t| (now - t).as_secs_f32() * 1000.0);
    times.sim_ms = FrameTimes::smooth(times.sim_ms, sim);
    times.started = Some(now);
    let dt = time.delta_secs() * 1000.0;
    times.frame_ms = FrameTimes::smooth(times.frame_ms, dt);
}

fn stop_view_timer(mut times: ResMut<FrameTimes>) {
    let view = times.started.map_or(0.0, |t| t.elapsed().as_secs_f32() * 1000.0);
    times.view_ms = FrameTimes::smooth(times.view_ms, view);
}

/// Screenshot mode: after `frames` frames, captures the window, saves the PNG
/// and exits; gives up (with an error) if nothing was captured 600 frames later.
fn take_screenshot_after_frames(
    mut commands: Commands,
    config: Option<Res<GuiConfig>>,
    mut frame: Local<u32>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(config) = config else { return };
    let Some(path) = &config.screenshot else { return };
    *frame += 1;
    if *frame == config.frames.max(1) {
        info!("saving a screenshot to {}", path.display());
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(path.clone())).observe(exit_after_capture);
    } else if *frame > config.frames.max(1) + 600 {
        error!("no screenshot was captured");
        exit.write(AppExit::error());
    }
}

fn exit_after_capture(_captured: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>) {
    exit.write(AppExit::Success);
}

/// Builds the windowed App: `DefaultPlugins` (asset root = the scene's
/// folder, watched for changes) + `SimPlugin` + [`plugin`], world built.
pub fn build_app(args: &RunArgs) -> Result<App, GuiError> {
    let scene = load_scene_file(&args.scene)?;
    let scene_path = std::path::absolute(&args.scene).unwrap_or_else(|_| args.scene.clone());
    let scene_dir = scene_path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let title = format!("colony: {}", scene.name);

    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title,
                    resolution: WindowResolution::new(args.width.max(320), args.height.max(240)),
                    present_mode: PresentMode::AutoVsync,
                    ..default()
                }),
                ..default()
            })
            .set(AssetPlugin {
                file_path: scene_dir.display().to_string(),
                watch_for_changes_override: Some(true),
                ..default()
            }),
    );
    app.add_plugins(crate::SimPlugin);
    app.insert_resource(GuiConfig { scene_dir, screenshot: args.screenshot.clone(), frames: args.frames });
    app.insert_resource(SpeedControl {
        paused: args.speed == 0,
        steps_per_frame: args.speed.max(1),
        max_speed: false,
        single_step: false,
    });
    app.insert_resource(RunConfig {
        seed: args.seed.unwrap_or(scene.seed),
        first_episode: 0,
        stride: 1,
        mode: if args.greedy { PolicyMode::Greedy } else { PolicyMode::Learn },
    });
    app.insert_resource(ActiveScene::new(scene, Some(scene_path.clone())));
    app.add_plugins(plugin);
    crate::world::build_world(app.world_mut());
    if let Some(policy) = &args.policy {
        let file = load_policy(policy)?;
        actions::apply_policy_file(app.world_mut(), &file, &policy.display().to_string())?;
        app.world_mut().resource_mut::<panels::PanelState>().policy_path = policy.display().to_string();
    }
    reload::start_watching(app.world_mut(), &scene_path);
    Ok(app)
}

/// Opens the window; in screenshot mode, returns once the PNG is written.
pub fn run(args: RunArgs) -> Result<(), GuiError> {
    if let Some(path) = &args.screenshot {
        // A stale file must not pass for a fresh one.
        let _ = std::fs::remove_file(path);
    }
    let mut app = build_app(&args)?;
    match app.run() {
        AppExit::Success => {}
        AppExit::Error(code) => return Err(GuiError::Exit(code.get())),
    }
    if let Some(path) = &args.screenshot
        && !path.exists()
    {
        return Err(GuiError::NoScreenshot(path.display().to_string()));
    }
    Ok(())
}
