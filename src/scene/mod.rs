//! Scenes: the RON schema, parsing with file:line:column errors, semantic
//! validation, and the Bevy `AssetLoader` the window uses for hot reload.

mod locate;
mod schema;

use std::path::{Path, PathBuf};

use bevy::asset::io::Reader;
use bevy::asset::{AssetApp, AssetLoader, LoadContext};
use bevy::prelude::*;
use ron::extensions::Extensions;

pub use locate::{Seg, line_col, locate};
pub use schema::{Learning, ResourceKind, ResourceSpec, Scene, TeamSpec, TrainDefaults};

/// Largest grid side: coordinates must fit the language's 0..=63 range.
pub const MAX_SIDE: usize = 64;
/// Largest vision radius accepted.
pub const MAX_VISION: u32 = 15;

/// Registers the scene asset and its loader when the App has an asset server.
pub fn plugin(app: &mut App) {
    if app.is_plugin_added::<AssetPlugin>() {
        app.init_asset::<SceneAsset>().register_asset_loader(SceneLoader);
    }
}

/// Why a scene was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// The file could not be read.
    #[error("{file}: cannot read the scene: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The text is not a valid scene; points at the place.
    #[error("{file}:{line}:{col}: {message}")]
    Invalid {
        /// The file (or a label for in-memory text).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong, as a sentence.
        message: String,
    },
}

impl SceneError {
    /// Line and column of an `Invalid` error.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Self::Invalid { line, col, .. } => Some((*line, *col)),
            Self::Io { .. } => None,
        }
    }
}

/// The scene the simulation runs, where it came from, and a generation
/// counter that changes whenever the scene is replaced (reload).
#[derive(Resource, Debug, Clone)]
pub struct ActiveScene {
    /// The validated scene.
    pub scene: Scene,
    /// Its file, if it came from one.
    pub path: Option<PathBuf>,
    /// Bumped on every replacement; the world rebuilds when it changes.
    pub generation: u64,
}

impl ActiveScene {
    /// Wraps a validated scene.
    pub fn new(scene: Scene, path: Option<PathBuf>) -> Self {
        Self { scene, path, generation: 1 }
    }

    /// Replaces the scene and bumps the generation.
    pub fn replace(&mut self, scene: Scene, path: Option<PathBuf>) {
        self.scene = scene;
        self.path = path;
        self.generation += 1;
    }
}

/// Reads, parses and validates a scene file.
pub fn load_scene_file(path: &Path) -> Result<Scene, SceneError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SceneError::Io { file: file.clone(), source })?;
    parse_scene(&text, &file)
}

/// Parses and validates scene text; `file` labels error messages.
pub fn parse_scene(text: &str, file: &str) -> Result<Scene, SceneError> {
    let options = ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME);
    let scene: Scene = options.from_str(text).map_err(|e| SceneError::Invalid {
        file: file.to_owned(),
        line: e.span.start.line,
        col: e.span.start.col,
        message: match e.code {
            ron::Error::IntegerOutOfBounds => {
                "this number is out of range for the field (counts, radii and sizes are whole numbers >= 0)".into()
            }
            code => code.to_string(),
        },
    })?;
    validate(&scene).map_err(|(path, message, extra_cols)| {
        let (line, col) = locate(text, &path.iter().map(PathSeg::as_seg).collect::<Vec<_>>());
        SceneError::Invalid { file: file.to_owned(), line, col: col + extra_cols, message }
    })?;
    Ok(scene)
}

/// Writes a scene as pretty RON (the GUI's "save as scene defaults").
pub fn scene_to_ron(scene: &Scene) -> Result<String, ron::Error> {
    ron::ser::to_string_pretty(scene, ron::ser::PrettyConfig::default().struct_names(false))
}

/// An owned path segment, turned into a [`Seg`] for [`locate`].
#[derive(Debug, Clone)]
enum PathSeg {
    Key(&'static str),
    Index(usize),
}

impl PathSeg {
    fn as_seg(&self) -> Seg<'_> {
        match self {
            Self::Key(k) => Seg::Key(k),
            Self::Index(i) => Seg::Index(*i),
        }
    }
}

type Invalid = (Vec<PathSeg>, String, usize);

fn bad(path: Vec<PathSeg>, message: String) -> Result<(), Invalid> {
    Err((path, message, 0))
}

use PathSeg::{Index, Key};

/// Everything serde cannot check: shapes, ranges, and whether the world fits.
fn validate(scene: &Scene) -> Result<(), Invalid> {
    if scene.episode_steps == 0 {
        return bad(vec![Key("episode_steps")], "`episode_steps` must be at least 1".into());
    }
    if scene.layout.is_empty() {
        return bad(vec![Key("layout")], "the layout has no rows".into());
    }
    let width = scene.layout[0].chars().count();
    if width == 0 {
        return bad(vec![Key("layout"), Index(0)], "the first layout row is empty".into());
    }
    if width > MAX_SIDE || scene.layout.len() > MAX_SIDE {
        return bad(
            vec![Key("layout")],
            format!(
                "the grid is {width}x{} but at most {MAX_SIDE}x{MAX_SIDE} is supported (coordinates are 0..=63)",
                scene.layout.len()
            ),
        );
    }
    let mut free = 0usize;
    let mut zone_cells = [0usize; 10];
    let mut walls = vec![false; width * scene.layout.len()];
    for (y, row) in scene.layout.iter().enumerate() {
        let n = row.chars().count();
        if n != width {
            return bad(
                vec![Key("layout"), Index(y)],
                format!("layout row {y} has {n} cells but row 0 has {width}; all rows must be equally long"),
            );
        }
        for (x, c) in row.chars().enumerate() {
            match c {
                '#' => walls[y * width + x] = true,
                '.' => free += 1,
                '0'..='9' => {
                    let team = c as usize - '0' as usize;
                    if team >= scene.teams.len() {
                        return Err((
                            vec![Key("layout"), Index(y)],
                            format!(
                                "cell ({x}, {y}) marks a start cell of team {team}, but the scene has {} team(s)",
                                scene.teams.len()
                            ),
                            x + 1,
                        ));
                    }
                    zone_cells[team] += 1;
                    free += 1;
                }
                other => {
                    return Err((
                        vec![Key("layout"), Index(y)],
                        format!(
                            "unknown layout character {other:?} at ({x}, {y}); use '#' wall, '.' floor or a team digit"
                        ),
                        x + 1,
                    ));
                }
            }
        }
    }
    if scene.vision_radius > MAX_VISION {
        return bad(
            vec![Key("vision_radius")],
            format!("`vision_radius` is {} but at most {MAX_VISION} is supported", scene.vision_radius),
        );
    }
    if scene.teams.is_empty() {
        return bad(vec![Key("teams")], "the scene has no teams; add at least one".into());
    }
    if scene.teams.len() > 10 {
        return bad(vec![Key("teams")], "at most 10 teams are supported".into());
    }
    let height = scene.layout.len();
    let mut taken = vec![false; width * height];
    let mut agents_total = 0usize;
    for (t, team) in scene.teams.iter().enumerate() {
        if team.agents == 0 {
            return bad(vec![Key("teams"), Index(t), Key("agents")], format!("team `{}` has no agents", team.name));
        }
        if team.start.len() > team.agents as usize {
            return bad(
                vec![Key("teams"), Index(t), Key("start")],
                format!("team `{}` lists {} start cells for {} agents", team.name, team.start.len(), team.agents),
            );
        }
        for (j, &(x, y)) in team.start.iter().enumerate() {
            let at = vec![Key("teams"), Index(t), Key("start"), Index(j)];
            let (xu, yu) = (x as usize, y as usize);
            if xu >= width || yu >= height {
                return bad(at, format!("start cell ({x}, {y}) is outside the {width}x{height} grid"));
            }
            if walls[yu * width + xu] {
                return bad(at, format!("start cell ({x}, {y}) is a wall; agents must start on floor"));
            }
            if taken[yu * width + xu] {
                return bad(at, format!("start cell ({x}, {y}) is used twice; one agent per cell"));
            }
            taken[yu * width + xu] = true;
        }
        agents_total += team.agents as usize;
        if agents_total > free {
            return bad(
                vec![Key("teams"), Index(t), Key("agents")],
                format!("{agents_total} agents do not fit on the {free} free cells of the layout"),
            );
        }
        let from_zone = team.agents as usize - team.start.len();
        if zone_cells[t] > 0 && from_zone > zone_cells[t] {
            return bad(
                vec![Key("teams"), Index(t), Key("agents")],
                format!(
                    "team `{}` has {} agents to place on its {} start cell(s) marked '{t}' in the layout",
                    team.name, from_zone, zone_cells[t]
                ),
            );
        }
    }
    if scene.resources.is_empty() {
        return bad(vec![Key("resources")], "the scene has no resources; agents would have nothing to do".into());
    }
    let mut items_total = 0usize;
    for (r, res) in scene.resources.iter().enumerate() {
        let at = |k: &'static str| vec![Key("resources"), Index(r), Key(k)];
        if res.count == 0 {
            return bad(at("count"), "`count` must be at least 1".into());
        }
        if res.cluster == 0 {
            return bad(at("cluster"), "`cluster` must be at least 1".into());
        }
        match res.kind {
            ResourceKind::Food | ResourceKind::Task if res.needs != 1 => {
                return bad(at("needs"), format!("{:?} is handled by one agent, so `needs` must be 1", res.kind));
            }
            ResourceKind::Heavy | ResourceKind::Prey if res.needs == 0 || res.needs as usize > agents_total => {
                return bad(
                    at("needs"),
                    format!(
                        "`needs` is {} but the scene has {agents_total} agents; it must be 1..={agents_total}",
                        res.needs
                    ),
                );
            }
            ResourceKind::Prey if res.needs > 4 => {
                return bad(at("needs"), "prey has only 4 neighbouring cells, so `needs` must be at most 4".into());
            }
            ResourceKind::Task if res.work_steps == 0 => {
                return bad(at("work_steps"), "`work_steps` must be at least 1".into());
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&res.flee) {
            return bad(at("flee"), format!("`flee` is a probability, but it is {}", res.flee));
        }
        items_total += res.count as usize * res.cluster as usize;
        if items_total + agents_total > free {
            return bad(
                at("count"),
                format!("{items_total} resource items and {agents_total} agents do not fit on the {free} free cells"),
            );
        }
    }
    if scene.channel.ttl == 0 {
        return bad(vec![Key("channel"), Key("ttl")], "`ttl` must be at least 1 step".into());
    }
    if scene.channel.inbox == 0 || scene.channel.inbox > crate::comm::MAX_INBOX as u32 {
        return bad(
            vec![Key("channel"), Key("inbox")],
            format!("`inbox` must be between 1 and {}", crate::comm::MAX_INBOX),
        );
    }
    if let Some((field, message)) = scene.hyperparameters.out_of_range() {
        return bad(vec![Key("hyperparameters"), Key(field)], message);
    }
    if scene.train.envs == 0 {
        return bad(vec![Key("train"), Key("envs")], "`envs` must be at least 1".into());
    }
    Ok(())
}

/// A scene loaded through the asset server (the window's hot reload).
#[derive(Asset, TypePath, Debug, Clone)]
pub struct SceneAsset {
    /// The validated scene.
    pub scene: Scene,
}

/// Loads `.ron` scene files with the same parser and validation as the CLI.
#[derive(Default, TypePath)]
pub struct SceneLoader;

impl AssetLoader for SceneLoader {
    type Asset = SceneAsset;
    type Settings = ();
    type Error = SceneError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<SceneAsset, SceneError> {
        let file = load_context.path().to_string();
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.map_err(|source| SceneError::Io { file: file.clone(), source })?;
        let text = String::from_utf8(bytes).map_err(|e| SceneError::Invalid {
            file: file.clone(),
            line: 1,
            col: 1,
            message: format!("the file is not UTF-8: {e}"),
        })?;
        parse_scene(&text, &file).map(|scene| SceneAsset { scene })
    }

    fn extensions(&self) -> &[&str] {
        &["ron"]
    }
}
