//! Pure helpers of the window, free of Bevy systems so they can be unit
//! tested: grid/world coordinates, camera fit, the state-value heat map,
//! colour ramps, and "a new file name, never an existing one".

use std::path::{Path, PathBuf};

use bevy::math::Vec2;

use crate::agent::GridPos;
use crate::learn::{QState, QTable};
use crate::world::Grid;

/// World units per grid cell.
pub const CELL: f32 = 32.0;

/// World position of the centre of cell `p` (row 0 at the top, so y goes down).
pub fn cell_center(p: GridPos) -> Vec2 {
    Vec2::new((p.x as f32 + 0.5) * CELL, -(p.y as f32 + 0.5) * CELL)
}

/// The cell under a world position (may be outside the grid).
pub fn world_to_cell(w: Vec2) -> GridPos {
    GridPos::new((w.x / CELL).floor() as i32, (-w.y / CELL).floor() as i32)
}

/// Size of the whole grid in world units.
pub fn grid_extent(width: usize, height: usize) -> Vec2 {
    Vec2::new(width as f32 * CELL, height as f32 * CELL)
}

/// Centre of the grid in world units.
pub fn grid_center(width: usize, height: usize) -> Vec2 {
    Vec2::new(width as f32 * CELL / 2.0, -(height as f32) * CELL / 2.0)
}

/// Orthographic scale (world units per logical pixel) that fits a
/// `width x height`-cell grid into a viewport of `viewport` logical pixels,
/// leaving `margin` (a fraction, e.g. 0.05) free around it.
pub fn fit_scale(width: usize, height: usize, viewport: Vec2, margin: f32) -> f32 {
    let extent = grid_extent(width.max(1), height.max(1)) * (1.0 + 2.0 * margin);
    let vp = viewport.max(Vec2::splat(1.0));
    (extent.x / vp.x).max(extent.y / vp.y)
}

/// New camera translation after zooming by `factor` (new scale = old *
/// factor) about the world point under the cursor, so that point stays put.
pub fn zoom_about(camera: Vec2, cursor_world: Vec2, factor: f32) -> Vec2 {
    cursor_world + (camera - cursor_world) * factor
}

/// The Q-state an agent would have on `p` with nothing in sight, nothing in
/// its inbox, and no trail yet (every open neighbour is fresh): only the wall
/// bits (walls and the border; other agents ignored) vary by cell.
pub fn empty_view_state(grid: &Grid, p: GridPos) -> usize {
    let mut blocked = 0u8;
    for (bit, (dx, dy)) in [(0, -1), (1, 0), (0, 1), (-1, 0)].into_iter().enumerate() {
        if !grid.is_floor(GridPos::new(p.x + dx, p.y + dy)) {
            blocked |= 1 << bit;
        }
    }
    QState { target: 0, inbox: 0, blocked, fresh: !blocked & 0xF }.encode()
}

/// The heat map: for every cell (row-major), `max_a Q(s, a)` of the
/// [`empty_view_state`] of that cell, `None` on walls.
///
/// This is an approximation of "how good is it to stand here": the tabular
/// state only knows the local walls, so cells with the same wall pattern get
/// the same value.
pub fn state_value_map(grid: &Grid, table: &QTable) -> Vec<Option<f32>> {
    let mut out = vec![None; grid.width * grid.height];
    for &p in grid.floor() {
        let s = empty_view_state(grid, p);
        if s < table.states
            && let Some(i) = grid.index(p)
        {
            out[i] = Some(table.max(s));
        }
    }
    out
}

/// Smallest and largest value of a map (`None` when it has no values).
pub fn value_range(values: &[Option<f32>]) -> Option<(f32, f32)> {
    values.iter().flatten().fold(None, |acc, &v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A blue → white → orange ramp for `t` in 0..=1 (sRGB bytes).
pub fn heat_color(t: f32) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
    let lerp = |a: f32, b: f32, u: f32| (a + (b - a) * u).round() as u8;
    let (cold, mid, hot) = ([49.0, 99.0, 181.0], [236.0, 236.0, 230.0], [222.0, 110.0, 30.0]);
    if t < 0.5 {
        let u = t * 2.0;
        [lerp(cold[0], mid[0], u), lerp(cold[1], mid[1], u), lerp(cold[2], mid[2], u)]
    } else {
        let u = (t - 0.5) * 2.0;
        [lerp(mid[0], hot[0], u), lerp(mid[1], hot[1], u), lerp(mid[2], hot[2], u)]
    }
}

/// Normalises `v` into 0..=1 over `range` (0.5 when the range is empty).
pub fn normalise(v: f32, (lo, hi): (f32, f32)) -> f32 {
    if hi - lo <= f32::EPSILON { 0.5 } else { (v - lo) / (hi - lo) }
}

/// Opacity of a message line `age` steps after it was sent; it fades out
/// over `fade` steps (0 once older).
pub fn message_alpha(age: u32, fade: u32) -> f32 {
    if fade == 0 || age >= fade { 0.0 } else { 1.0 - age as f32 / fade as f32 }
}

/// The first `dir/<stem>-defaults-<n>.ron` (n = 1, 2, ...) for which `exists`
/// is false: the scene-defaults writer never overwrites a file.
pub fn next_free_path(dir: &Path, stem: &str, exists: impl Fn(&Path) -> bool) -> PathBuf {
    let base = stem.trim_end_matches(".ron");
    // Saving from a saved copy gives `x-defaults-2`, not `x-defaults-1-defaults-1`.
    let base = match base.rsplit_once("-defaults-") {
        Some((b, n)) if !b.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => b,
        _ => base,
    };
    let base = if base.is_empty() { "scene" } else { base };
    (1u32..)
        .map(|n| dir.join(format!("{base}-defaults-{n}.ron")))
        .find(|p| !exists(p))
        .unwrap_or_else(|| dir.join(format!("{base}-defaults.ron")))
}

/// A team's display colour (sRGB 0..=1), cycling through a fixed palette.
pub fn team_color(team: u16) -> [f32; 3] {
    const PALETTE: [[f32; 3]; 8] = [
        [0.20, 0.45, 0.90],
        [0.90, 0.30, 0.35],
        [0.55, 0.30, 0.85],
        [0.10, 0.70, 0.70],
        [0.95, 0.60, 0.10],
        [0.45, 0.45, 0.45],
        [0.85, 0.35, 0.70],
        [0.35, 0.65, 0.25],
    ];
    PALETTE[team as usize % PALETTE.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::parse_scene;

    fn small_grid() -> Grid {
        let text = concat!(
            "(name: \"t\", episode_steps: 10,",
            " layout: [\"#####\", \"#0..#\", \"#.#.#\", \"#####\"],",
            " teams: [(name: \"a\", agents: 1)], resources: [(kind: Food, count: 1)])"
        );
        match parse_scene(text, "t.ron") {
            Ok(scene) => Grid::from_scene(&scene),
            Err(e) => panic!("test scene does not parse: {e}"),
        }
    }

    #[test]
    fn cells_and_world_positions_round_trip() {
        for p in [GridPos::new(0, 0), GridPos::new(3, 7), GridPos::new(63, 63)] {
            assert_eq!(world_to_cell(cell_center(p)), p);
        }
        assert_eq!(world_to_cell(Vec2::new(-1.0, 1.0)), GridPos::new(-1, -1));
        assert_eq!(grid_center(4, 2), Vec2::new(2.0 * CELL, -CELL));
    }

    #[test]
    fn fit_scale_fits_the_limiting_axis() {
        // 20x10 cells = 640x320 units into 320x320 px: width limits, 2 units/px.
        let s = fit_scale(20, 10, Vec2::new(320.0, 320.0), 0.0);
        assert!((s - 2.0).abs() < 1e-6);
        // Tall grid into a wide viewport: height limits.
        let s = fit_scale(10, 20, Vec2::new(1000.0, 320.0), 0.0);
        assert!((s - 2.0).abs() < 1e-6);
        // A margin makes it smaller on screen (larger scale).
        assert!(fit_scale(10, 20, Vec2::new(1000.0, 320.0), 0.05) > s);
        // Degenerate viewports do not divide by zero.
        assert!(fit_scale(10, 10, Vec2::ZERO, 0.0).is_finite());
    }

    #[test]
    fn zoom_keeps_the_cursor_point_fixed() {
        let cam = Vec2::new(10.0, 0.0);
        let cursor = Vec2::new(20.0, 0.0);
        // The cursor was at +10 units from the centre; at half the scale it is
        // +5 units away, still at the same pixel.
        assert_eq!(zoom_about(cam, cursor, 0.5), Vec2::new(15.0, 0.0));
        assert_eq!(zoom_about(cam, cam, 0.5), cam);
    }

    #[test]
    fn heat_map_reads_the_empty_view_state_of_every_floor_cell() {
        let grid = small_grid();
        // (1,1): walls N and W, fresh E and S; (2,1): walls N and S.
        let s11 = empty_view_state(&grid, GridPos::new(1, 1));
        assert_eq!(QState::decode(s11).blocked, 0b1001);
        assert_eq!(QState::decode(s11).fresh, 0b0110);
        let s21 = empty_view_state(&grid, GridPos::new(2, 1));
        assert_eq!(QState::decode(s21).blocked, 0b0101);
        let mut table = QTable::new(crate::learn::NUM_STATES, 5, "team/a".into(), 0);
        table.q[s11 * 5 + 2] = 4.0;
        table.q[s11 * 5] = -1.0;
        for a in 0..5 {
            table.q[s21 * 5 + a] = -2.0;
        }
        let map = state_value_map(&grid, &table);
        assert_eq!(map.len(), 20);
        assert_eq!(map[grid.width + 1], Some(4.0));
        assert_eq!(map[grid.width + 2], Some(-2.0));
        assert_eq!(map[0], None, "walls have no value");
        assert_eq!(value_range(&map), Some((-2.0, 4.0)));
        assert_eq!(value_range(&[None, None]), None);
    }

    #[test]
    fn colours_and_fading() {
        assert_eq!(heat_color(0.0), [49, 99, 181]);
        assert_eq!(heat_color(1.0), [222, 110, 30]);
        assert_eq!(heat_color(f32::NAN), heat_color(0.5));
        assert_eq!(normalise(3.0, (1.0, 1.0)), 0.5);
        assert_eq!(normalise(2.0, (0.0, 4.0)), 0.5);
        assert_eq!(message_alpha(0, 4), 1.0);
        assert_eq!(message_alpha(2, 4), 0.5);
        assert_eq!(message_alpha(4, 4), 0.0);
        assert_eq!(message_alpha(0, 0), 0.0);
        assert_ne!(team_color(0), team_color(1));
    }

    #[test]
    fn new_scene_file_names_never_exist() {
        let dir = Path::new("scenes");
        let taken = [dir.join("foraging-defaults-1.ron"), dir.join("foraging-defaults-2.ron")];
        let exists = |p: &Path| taken.iter().any(|t| t == p);
        assert_eq!(next_free_path(dir, "foraging", exists), dir.join("foraging-defaults-3.ron"));
        assert_eq!(next_free_path(dir, "foraging-defaults-2", exists), dir.join("foraging-defaults-3.ron"));
        assert_eq!(next_free_path(dir, "x", |_| false), dir.join("x-defaults-1.ron"));
        assert_eq!(next_free_path(dir, "", |_| false), dir.join("scene-defaults-1.ron"));
    }

    #[test]
    fn new_scene_file_names_on_a_real_folder() {
        let tmp = match tempfile::tempdir() {
            Ok(t) => t,
            Err(e) => panic!("no temp dir: {e}"),
        };
        let first = next_free_path(tmp.path(), "s", |p| p.exists());
        if let Err(e) = std::fs::write(&first, "x") {
            panic!("cannot write {}: {e}", first.display());
        }
        let second = next_free_path(tmp.path(), "s", |p| p.exists());
        assert_ne!(first, second);
        assert!(!second.exists());
    }
}
