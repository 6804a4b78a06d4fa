//! The windowed simulator (feature `gui`): drawing, egui panels, inspector,
//! screenshot mode. Owns no simulation state; it views and edits it.

use std::path::PathBuf;

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
}

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    /// Not built yet.
    #[error("{0}")]
    Other(String),
}

/// Opens the window.
pub fn run(_args: RunArgs) -> Result<(), GuiError> {
    Err(GuiError::Other("the window is not implemented yet".into()))
}
