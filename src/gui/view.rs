//! The world view: a texture for walls/floor (and the state-value heat map),
//! sprite pools for resources and agents, gizmos for headings, vision and
//! flying messages, egui labels for utterances, and the pan/zoom camera.

use bevy::asset::RenderAssetUsages;
use bevy::image::ImageSampler;
use bevy::input::mouse::{AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiContexts, egui};

use super::ViewSettings;
use super::logic::{
    CELL, cell_center, fit_scale, grid_center, grid_extent, heat_color, message_alpha, normalise, state_value_map,
    team_color, value_range, world_to_cell, zoom_about,
};
use crate::agent::{Action, Agent, GridPos, Vision};
use crate::comm::MessageLog;
use crate::learn::{QTable, UsesPolicy};
use crate::scene::{ActiveScene, ResourceKind};
use crate::world::{AgentOrder, Episode, Grid, Items, PolicyOrder};

/// The camera that draws the world.
#[derive(Component, Debug)]
pub struct WorldCamera;

/// Shared meshes and materials of the view.
#[derive(Resource, Debug)]
pub struct ViewAssets {
    agent_mesh: Handle<Mesh>,
    item_meshes: [Handle<Mesh>; 4],
    item_materials: [Handle<ColorMaterial>; 4],
    team_materials: Vec<Handle<ColorMaterial>>,
}

/// The grid texture and the sprite pools, keyed by the scene generation.
#[derive(Resource, Debug, Default)]
pub struct ViewPools {
    generation: u64,
    image: Option<Handle<Image>>,
    grid_sprite: Option<Entity>,
    items: Vec<Entity>,
    agents: Vec<Entity>,
    heat_shown: bool,
    heat_frame: u32,
    /// Range of the heat map's values (for the legend).
    pub heat_range: Option<(f32, f32)>,
}

const WALL: [u8; 3] = [46, 50, 60];
const FLOOR: [u8; 3] = [226, 222, 208];
const FLOOR_ALT: [u8; 3] = [218, 214, 199];

fn kind_index(kind: ResourceKind) -> usize {
    match kind {
        ResourceKind::Food => 0,
        ResourceKind::Heavy => 1,
        ResourceKind::Prey => 2,
        ResourceKind::Task => 3,
    }
}

/// Colour of a resource kind (also used by the legend).
pub fn kind_color(kind: ResourceKind) -> Color {
    match kind {
        ResourceKind::Food => Color::srgb(0.20, 0.68, 0.22),
        ResourceKind::Heavy => Color::srgb(0.55, 0.36, 0.18),
        ResourceKind::Prey => Color::srgb(0.93, 0.47, 0.10),
        ResourceKind::Task => Color::srgb(0.42, 0.30, 0.75),
    }
}

fn team_bevy_color(team: u16) -> Color {
    let [r, g, b] = team_color(team);
    Color::srgb(r, g, b)
}

/// Startup: the world camera and the shared meshes/materials.
pub fn setup_view(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<ColorMaterial>>,
) {
    commands.spawn((Camera2d, WorldCamera, Name::new("world camera")));
    let kinds = [ResourceKind::Food, ResourceKind::Heavy, ResourceKind::Prey, ResourceKind::Task];
    commands.insert_resource(ViewAssets {
        agent_mesh: meshes.add(Circle::new(CELL * 0.36)),
        item_meshes: [
            meshes.add(Circle::new(CELL * 0.2)),
            meshes.add(Rectangle::new(CELL * 0.72, CELL * 0.72)),
            meshes.add(RegularPolygon::new(CELL * 0.36, 3)),
            meshes.add(Rectangle::new(CELL * 0.8, CELL * 0.8)),
        ],
        item_materials: kinds.map(|k| materials.add(ColorMaterial::from_color(kind_color(k)))),
        team_materials: (0..8).map(|t| materials.add(ColorMaterial::from_color(team_bevy_color(t)))).collect(),
    });
    commands.init_resource::<ViewPools>();
}

/// State of a mouse drag on the view.
#[derive(Debug, Default)]
pub struct Drag {
    active: bool,
    moved: bool,
    start: Vec2,
    last: Vec2,
}

/// View: drag to pan, wheel to zoom about the cursor, click to select an
/// agent, `F` to fit; ignored while the pointer is on a panel.
pub fn control_camera(
    camera: Single<(&mut Transform, &mut Projection, &Camera, &GlobalTransform), With<WorldCamera>>,
    window: Single<&Window, With<PrimaryWindow>>,
    buttons: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    scroll: Res<AccumulatedMouseScroll>,
    egui_input: Option<Res<EguiWantsInput>>,
    mut view: ResMut<ViewSettings>,
    mut drag: Local<Drag>,
    order: Option<Res<AgentOrder>>,
    agents: Query<(&Agent, &GridPos)>,
) {
    let egui_busy = egui_input.as_ref().is_some_and(|e| e.wants_pointer_input() || e.is_using_pointer());
    if keys.just_pressed(KeyCode::KeyF) && !egui_input.as_ref().is_some_and(|e| e.wants_any_keyboard_input()) {
        view.needs_fit = true;
    }
    let Some(cursor) = window.cursor_position() else {
        drag.active = false;
        return;
    };
    let inside = view.view_rect.is_none_or(|r| r.contains(cursor));
    let (mut transform, mut projection, cam, cam_global) = camera.into_inner();
    let Projection::Orthographic(ortho) = &mut *projection else { return };
    let any = [MouseButton::Left, MouseButton::Right, MouseButton::Middle];
    if buttons.any_just_pressed(any) && inside && !egui_busy {
        *drag = Drag { active: true, moved: false, start: cursor, last: cursor };
    }
    if drag.active && buttons.any_pressed(any) {
        let delta = cursor - drag.last;
        drag.last = cursor;
        if (cursor - drag.start).length() > 4.0 {
            drag.moved = true;
        }
        if drag.moved {
            transform.translation.x -= delta.x * ortho.scale;
            transform.translation.y += delta.y * ortho.scale;
        }
    }
    if drag.active && buttons.just_released(MouseButton::Left) && !drag.moved {
        if let Ok(world) = cam.viewport_to_world_2d(cam_global, cursor) {
            view.selected = pick_agent(world, order.as_deref(), &agents);
        }
    }
    if !buttons.any_pressed(any) {
        drag.active = false;
    }
    let lines = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
    };
    if lines != 0.0 && inside && !egui_busy {
        let factor = 1.15f32.powf(-lines).clamp(0.2, 5.0);
        let new_scale = (ortho.scale * factor).clamp(0.01, 50.0);
        let factor = new_scale / ortho.scale;
        if let Ok(world) = cam.viewport_to_world_2d(cam_global, cursor) {
            let t = zoom_about(transform.translation.truncate(), world, factor);
            transform.translation.x = t.x;
            transform.translation.y = t.y;
        }
        ortho.scale = new_scale;
    }
}

/// The agent nearest to a world point, if within about a cell.
fn pick_agent(world: Vec2, order: Option<&AgentOrder>, agents: &Query<(&Agent, &GridPos)>) -> Option<u32> {
    let order = order?;
    let mut best: Option<(f32, u32)> = None;
    for &e in &order.0 {
        if let Ok((agent, pos)) = agents.get(e) {
            let d = cell_center(*pos).distance(world);
            if d < CELL * 0.75 && best.is_none_or(|b| d < b.0) {
                best = Some((d, agent.id));
            }
        }
    }
    let _ = world_to_cell(world);
    best.map(|b| b.1)
}

/// View: when asked (start, new scene, `F`), scales and centres the camera so
/// the grid fills the part of the window the panels leave free.
pub fn fit_camera(
    mut camera: Single<(&mut Transform, &mut Projection), With<WorldCamera>>,
    window: Single<&Window, With<PrimaryWindow>>,
    grid: Option<Res<Grid>>,
    mut view: ResMut<ViewSettings>,
) {
    let (Some(grid), Some(rect)) = (grid, view.view_rect) else { return };
    if !view.needs_fit || rect.width() < 8.0 || rect.height() < 8.0 {
        return;
    }
    let (transform, projection) = &mut *camera;
    let Projection::Orthographic(ortho) = &mut **projection else { return };
    let scale = fit_scale(grid.width, grid.height, rect.size(), 0.03);
    ortho.scale = scale;
    let window_center = Vec2::new(window.width(), window.height()) / 2.0;
    let offset = rect.center() - window_center;
    let c = grid_center(grid.width, grid.height) - Vec2::new(offset.x, -offset.y) * scale;
    transform.translation.x = c.x;
    transform.translation.y = c.y;
    view.needs_fit = false;
}

/// The Q-table the heat map and inspector read: the selected agent's policy,
/// else the first policy.
pub fn selected_table<'a>(
    view: &ViewSettings,
    order: &AgentOrder,
    policies: &PolicyOrder,
    agents: &Query<&UsesPolicy>,
    tables: &'a Query<&QTable>,
) -> Option<&'a QTable> {
    let from_agent = view
        .selected
        .and_then(|id| order.0.get(id as usize))
        .and_then(|&e| agents.get(e).ok())
        .and_then(|p| tables.get(p.0).ok());
    from_agent.or_else(|| policies.0.first().and_then(|&e| tables.get(e).ok()))
}

/// View: (re)creates the grid texture for a new scene and repaints it with
/// the heat map (every 10 frames while shown).
pub fn sync_grid_image(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut pools: ResMut<ViewPools>,
    active: Res<ActiveScene>,
    grid: Option<Res<Grid>>,
    view: Res<ViewSettings>,
    order: Option<Res<AgentOrder>>,
    policies: Option<Res<PolicyOrder>>,
    users: Query<&UsesPolicy>,
    tables: Query<&QTable>,
) {
    let Some(grid) = grid else { return };
    let rebuilt = pools.grid_sprite.is_none() || pools.generation != active.generation;
    if rebuilt {
        if let Some(e) = pools.grid_sprite.take() {
            commands.entity(e).despawn();
        }
        let mut image = Image::new_fill(
            Extent3d { width: grid.width.max(1) as u32, height: grid.height.max(1) as u32, depth_or_array_layers: 1 },
            TextureDimension::D2,
            &[0, 0, 0, 255],
            TextureFormat::Rgba8UnormSrgb,
            RenderAssetUsages::MAIN_WORLD | RenderAssetUsages::RENDER_WORLD,
        );
        image.sampler = ImageSampler::nearest();
        let handle = images.add(image);
        let mut sprite = Sprite::from_image(handle.clone());
        sprite.custom_size = Some(grid_extent(grid.width, grid.height));
        let c = grid_center(grid.width, grid.height);
        let e = commands.spawn((sprite, Transform::from_xyz(c.x, c.y, 0.0), Name::new("grid"))).id();
        pools.grid_sprite = Some(e);
        pools.image = Some(handle);
        pools.heat_shown = !view.show_heat;
        pools.heat_frame = 0;
    }
    pools.heat_frame = pools.heat_frame.wrapping_add(1);
    let repaint = rebuilt || pools.heat_shown != view.show_heat || (view.show_heat && pools.heat_frame % 10 == 0);
    if !repaint {
        return;
    }
    let values = match (view.show_heat, order.as_deref(), policies.as_deref()) {
        (true, Some(order), Some(policies)) => {
            selected_table(&view, order, policies, &users, &tables).map(|t| state_value_map(&grid, t))
        }
        _ => None,
    };
    let range = values.as_deref().and_then(value_range);
    pools.heat_range = range;
    pools.heat_shown = view.show_heat;
    let Some(handle) = pools.image.clone() else { return };
    let Some(mut image) = images.get_mut(&handle) else { return };
    let Some(data) = image.data.as_mut() else { return };
    for y in 0..grid.height {
        for x in 0..grid.width {
            let p = GridPos::new(x as i32, y as i32);
            let i = y * grid.width + x;
            let rgb = if !grid.is_floor(p) {
                WALL
            } else if let (Some(v), Some(range)) = (values.as_ref().and_then(|m| m[i]), range) {
                heat_color(normalise(v, range))
            } else if (x + y) % 2 == 0 {
                FLOOR
            } else {
                FLOOR_ALT
            };
            if let Some(px) = data.get_mut(i * 4..i * 4 + 4) {
                px.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
            }
        }
    }
}

/// View: one sprite per resource slot (shape and colour by kind), hidden
/// while the slot waits to respawn.
pub fn sync_item_sprites(
    mut commands: Commands,
    assets: Res<ViewAssets>,
    mut pools: ResMut<ViewPools>,
    active: Res<ActiveScene>,
    items: Option<Res<Items>>,
    mut sprites: Query<(&mut Transform, &mut Visibility)>,
) {
    let Some(items) = items else { return };
    if pools.generation != active.generation || pools.items.len() != items.list.len() {
        for e in pools.items.drain(..) {
            commands.entity(e).despawn();
        }
        for it in &items.list {
            let k = kind_index(it.kind);
            let e = commands
                .spawn((
                    Mesh2d(assets.item_meshes[k].clone()),
                    MeshMaterial2d(assets.item_materials[k].clone()),
                    Transform::from_translation(cell_center(it.pos).extend(1.0)),
                    if it.alive { Visibility::Visible } else { Visibility::Hidden },
                ))
                .id();
            pools.items.push(e);
        }
        return;
    }
    for (it, &e) in items.list.iter().zip(&pools.items) {
        if let Ok((mut t, mut vis)) = sprites.get_mut(e) {
            let want = cell_center(it.pos).extend(1.0);
            if t.translation != want {
                t.translation = want;
            }
            let v = if it.alive { Visibility::Visible } else { Visibility::Hidden };
            if *vis != v {
                *vis = v;
            }
        }
    }
}

/// View: one circle per agent in its team colour.
pub fn sync_agent_sprites(
    mut commands: Commands,
    assets: Res<ViewAssets>,
    mut pools: ResMut<ViewPools>,
    active: Res<ActiveScene>,
    order: Option<Res<AgentOrder>>,
    agents: Query<(&Agent, &GridPos)>,
    mut sprites: Query<&mut Transform, Without<Agent>>,
) {
    let Some(order) = order else { return };
    if pools.generation != active.generation || pools.agents.len() != order.0.len() {
        for e in pools.agents.drain(..) {
            commands.entity(e).despawn();
        }
        for &a in &order.0 {
            let Ok((agent, pos)) = agents.get(a) else { continue };
            let material = assets.team_materials[agent.team as usize % assets.team_materials.len()].clone();
            let e = commands
                .spawn((
                    Mesh2d(assets.agent_mesh.clone()),
                    MeshMaterial2d(material),
                    Transform::from_translation(cell_center(*pos).extend(2.0)),
                ))
                .id();
            pools.agents.push(e);
        }
        pools.generation = active.generation;
        return;
    }
    for (&a, &e) in order.0.iter().zip(&pools.agents) {
        if let (Ok((_, pos)), Ok(mut t)) = (agents.get(a), sprites.get_mut(e)) {
            let want = cell_center(*pos).extend(2.0);
            if t.translation != want {
                t.translation = want;
            }
        }
    }
}

/// View: gizmos for grid lines, task progress, each agent's next cell,
/// vision squares, the selection ring and the fading message lines.
pub fn draw_overlays(
    mut gizmos: Gizmos,
    view: Res<ViewSettings>,
    active: Res<ActiveScene>,
    grid: Option<Res<Grid>>,
    items: Option<Res<Items>>,
    episode: Option<Res<Episode>>,
    log: Res<MessageLog>,
    order: Option<Res<AgentOrder>>,
    agents: Query<(&Agent, &GridPos, &Action, &Vision)>,
) {
    let (Some(grid), Some(items), Some(order)) = (grid, items, order) else { return };
    let extent = grid_extent(grid.width, grid.height);
    gizmos.grid_2d(
        Isometry2d::from_translation(grid_center(grid.width, grid.height)),
        UVec2::new(grid.width as u32, grid.height as u32),
        Vec2::splat(CELL),
        Color::srgba(0.0, 0.0, 0.0, 0.06),
    );
    gizmos.rect_2d(
        Isometry2d::from_translation(grid_center(grid.width, grid.height)),
        extent,
        Color::srgb(0.3, 0.32, 0.36),
    );

    // Task progress bars and heavy-item crew sizes.
    for it in items.list.iter().filter(|i| i.alive) {
        let spec = active.scene.resources.get(it.spec as usize);
        let c = cell_center(it.pos);
        if it.kind == ResourceKind::Task
            && let Some(spec) = spec
        {
            let frac = (it.progress as f32 / spec.work_steps.max(1) as f32).clamp(0.0, 1.0);
            let y = c.y - CELL * 0.3;
            let x0 = c.x - CELL * 0.35;
            gizmos.line_2d(Vec2::new(x0, y), Vec2::new(x0 + CELL * 0.7, y), Color::srgba(1.0, 1.0, 1.0, 0.5));
            if frac > 0.0 {
                gizmos.line_2d(Vec2::new(x0, y), Vec2::new(x0 + CELL * 0.7 * frac, y), Color::srgb(1.0, 0.85, 0.2));
            }
        }
        if matches!(it.kind, ResourceKind::Heavy | ResourceKind::Prey)
            && let Some(spec) = spec
        {
            // One dot per agent needed.
            for k in 0..spec.needs.min(6) {
                let p = c + Vec2::new((k as f32 - (spec.needs.min(6) as f32 - 1.0) / 2.0) * CELL * 0.16, CELL * 0.42);
                gizmos.circle_2d(Isometry2d::from_translation(p), CELL * 0.04, Color::srgb(0.15, 0.1, 0.05));
            }
        }
    }

    for &e in &order.0 {
        let Ok((agent, pos, action, vision)) = agents.get(e) else { continue };
        let c = cell_center(*pos);
        let color = team_bevy_color(agent.team);
        if view.show_headings && *action != Action::Stay {
            let target = pos.step(*action);
            let t = cell_center(target);
            gizmos.arrow_2d(c + (t - c) * 0.35, c + (t - c) * 0.85, color.with_alpha(0.9)).with_tip_length(CELL * 0.18);
            gizmos.rect_2d(Isometry2d::from_translation(t), Vec2::splat(CELL * 0.86), color.with_alpha(0.35));
        }
        if view.show_vision {
            let side = (2 * vision.radius + 1) as f32 * CELL;
            gizmos.rect_2d(Isometry2d::from_translation(c), Vec2::splat(side), color.with_alpha(0.3));
        }
        if view.selected == Some(agent.id) {
            gizmos.circle_2d(Isometry2d::from_translation(c), CELL * 0.5, Color::srgb(1.0, 0.9, 0.1));
            gizmos.circle_2d(Isometry2d::from_translation(c), CELL * 0.54, Color::srgb(0.1, 0.1, 0.1));
        }
    }

    if view.show_messages
        && let Some(ep) = episode
    {
        // A budget of lines keeps crowds readable (and cheap on software GPUs).
        let mut budget = 600usize;
        for m in log.entries.iter().rev() {
            if m.step > ep.step {
                continue; // from the previous episode
            }
            if budget == 0 {
                break;
            }
            let alpha = message_alpha(ep.step - m.step, view.fade_steps);
            if alpha <= 0.0 {
                break;
            }
            let from = cell_center(m.from);
            if m.dropped {
                let d = CELL * 0.22;
                let red = Color::srgba(0.85, 0.1, 0.1, alpha);
                gizmos.line_2d(from + Vec2::new(-d, -d), from + Vec2::new(d, d), red);
                gizmos.line_2d(from + Vec2::new(-d, d), from + Vec2::new(d, -d), red);
                continue;
            }
            let color = Color::srgba(1.0, 0.85, 0.15, alpha * 0.8);
            for &(_, to) in m.receivers.iter().take(budget) {
                gizmos.line_2d(from, cell_center(to), color);
            }
            budget = budget.saturating_sub(m.receivers.len().max(1));
            gizmos.circle_2d(Isometry2d::from_translation(from), CELL * 0.45 * (1.0 + (1.0 - alpha)), color);
        }
    }
}

/// UI pass: the utterance text of fresh messages next to their senders
/// (at most one label per sender, 60 in all).
pub fn draw_labels(
    mut contexts: EguiContexts,
    view: Res<ViewSettings>,
    log: Res<MessageLog>,
    episode: Option<Res<Episode>>,
    camera: Single<(&Camera, &GlobalTransform), With<WorldCamera>>,
) -> Result {
    let (Some(ep), Some(rect)) = (episode, view.view_rect) else { return Ok(()) };
    if !view.show_labels || !view.show_messages {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?;
    let clip = egui::Rect::from_min_max(egui::pos2(rect.min.x, rect.min.y), egui::pos2(rect.max.x, rect.max.y));
    let painter = ctx
        .layer_painter(egui::LayerId::new(egui::Order::Foreground, egui::Id::new("message labels")))
        .with_clip_rect(clip);
    let (cam, cam_t) = *camera;
    let mut seen = std::collections::HashSet::new();
    let font = egui::FontId::proportional(11.0);
    for m in log.entries.iter().rev() {
        if m.step > ep.step {
            continue;
        }
        let alpha = message_alpha(ep.step - m.step, view.fade_steps);
        if alpha <= 0.0 || seen.len() >= 60 {
            break;
        }
        if !seen.insert(m.sender) {
            continue;
        }
        let world = cell_center(m.from) + Vec2::new(CELL * 0.3, CELL * 0.45);
        let Ok(screen) = cam.world_to_viewport(cam_t, world.extend(0.0)) else { continue };
        let said = m.text.clone().unwrap_or_else(|| m.intent.to_string());
        let text = if m.dropped { format!("{said} (dropped)") } else { said };
        let a = (alpha * 255.0) as u8;
        let galley = painter.layout_no_wrap(text, font.clone(), egui::Color32::from_rgba_unmultiplied(20, 20, 20, a));
        let pos = egui::pos2(screen.x, screen.y - galley.size().y);
        let bg = egui::Rect::from_min_size(pos, galley.size()).expand(2.0);
        painter.rect_filled(bg, 3.0, egui::Color32::from_rgba_unmultiplied(255, 244, 200, (alpha * 220.0) as u8));
        painter.galley(pos, galley, egui::Color32::BLACK);
    }
    Ok(())
}
