//! The grid world: walls, resources and task sites, spawning, respawn,
//! scripted prey, interactions that pay rewards, and the episode reset.

use bevy::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::agent::{Action, Agent, Body, GridPos, Observation, Reward, Vision};
use crate::comm::{CommSettings, Inbox, Outbox};
use crate::learn::{Hyperparameters, Learner, NUM_STATES, PolicyMode, QTable, UsesPolicy};
use crate::metrics::EpisodeStats;
use crate::scene::{ActiveScene, Learning, ResourceKind, Scene};
use crate::{SimSet, SimStep};

/// Adds prey movement (Act) and interactions and the episode reset (Reward).
pub fn plugin(app: &mut App) {
    app.init_resource::<RunConfig>().init_resource::<AgentOrder>().init_resource::<PolicyOrder>();
    app.add_systems(SimStep, move_prey.in_set(SimSet::Act).after(crate::agent::apply_actions));
    app.add_systems(SimStep, resolve_interactions.in_set(SimSet::Reward));
    app.add_systems(SimStep, start_next_episode.in_set(SimSet::Reward).after(crate::metrics::record_episode));
}

/// How this App runs episodes: the run seed, which episode indices it plays
/// (`first`, `first + stride`, ...: env k of K plays k, k+K, ...), and whether
/// agents learn.
#[derive(Resource, Debug, Clone, Copy)]
pub struct RunConfig {
    /// Seed of the run; each episode's world and exploration derive from it.
    pub seed: u64,
    /// Index of the first episode this App plays.
    pub first_episode: u64,
    /// Index increment between consecutive episodes of this App.
    pub stride: u64,
    /// Learn, play greedily, or act at random.
    pub mode: PolicyMode,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self { seed: 0, first_episode: 0, stride: 1, mode: PolicyMode::Learn }
    }
}

/// Episode clock.
#[derive(Resource, Debug, Clone, Copy)]
pub struct Episode {
    /// Global index of the episode being played.
    pub index: u64,
    /// Steps completed in this episode.
    pub step: u32,
    /// Steps per episode.
    pub max_steps: u32,
    /// Episodes this App has finished.
    pub finished: u64,
}

impl Episode {
    /// True during the Reward phase of an episode's last step.
    pub fn ending(&self) -> bool {
        self.step >= self.max_steps
    }
}

/// Walls and floor.
#[derive(Resource, Debug, Clone)]
pub struct Grid {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    walls: Vec<bool>,
    floor: Vec<GridPos>,
    zones: Vec<Vec<GridPos>>,
}

impl Grid {
    /// Builds the grid of a validated scene.
    pub fn from_scene(scene: &Scene) -> Self {
        let height = scene.layout.len();
        let width = scene.layout.first().map_or(0, |r| r.chars().count());
        let mut walls = vec![true; width * height];
        let mut floor = Vec::new();
        let mut zones = vec![Vec::new(); scene.teams.len()];
        for (y, row) in scene.layout.iter().enumerate() {
            for (x, c) in row.chars().enumerate().take(width) {
                if c == '#' {
                    continue;
                }
                let p = GridPos::new(x as i32, y as i32);
                walls[y * width + x] = false;
                floor.push(p);
                if let Some(t) = c.to_digit(10)
                    && let Some(z) = zones.get_mut(t as usize)
                {
                    z.push(p);
                }
            }
        }
        Self { width, height, walls, floor, zones }
    }

    /// Cell index of an in-bounds position.
    pub fn index(&self, p: GridPos) -> Option<usize> {
        (p.x >= 0 && p.y >= 0 && (p.x as usize) < self.width && (p.y as usize) < self.height)
            .then(|| p.y as usize * self.width + p.x as usize)
    }

    /// In bounds and not a wall.
    pub fn is_floor(&self, p: GridPos) -> bool {
        self.index(p).is_some_and(|i| !self.walls[i])
    }

    /// All floor cells, row by row.
    pub fn floor(&self) -> &[GridPos] {
        &self.floor
    }
}

/// Which agent (id) stands on each cell.
#[derive(Resource, Debug, Clone, Default)]
pub struct Occupancy {
    cells: Vec<u32>,
}

impl Occupancy {
    fn new(grid: &Grid) -> Self {
        Self { cells: vec![0; grid.width * grid.height] }
    }

    /// The id of the agent on `p`.
    pub fn agent_at(&self, grid: &Grid, p: GridPos) -> Option<u32> {
        grid.index(p).and_then(|i| self.cells[i].checked_sub(1))
    }

    /// Someone stands on `p`.
    pub fn is_taken(&self, grid: &Grid, p: GridPos) -> bool {
        self.agent_at(grid, p).is_some()
    }

    /// Marks `p` empty.
    pub fn leave(&mut self, grid: &Grid, p: GridPos) {
        if let Some(i) = grid.index(p) {
            self.cells[i] = 0;
        }
    }

    /// Marks `p` taken by agent `id`.
    pub fn put(&mut self, grid: &Grid, p: GridPos, id: u32) {
        if let Some(i) = grid.index(p) {
            self.cells[i] = id + 1;
        }
    }
}

/// One resource item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item {
    /// What it is.
    pub kind: ResourceKind,
    /// Where it is.
    pub pos: GridPos,
    /// Index of its spec in the scene's `resources`.
    pub spec: u16,
    /// Cluster slot it belongs to.
    pub cluster: u32,
    /// Present in the world (false between consumption and respawn).
    pub alive: bool,
    /// Steps of work done (task sites).
    pub progress: u32,
    /// Agent id serving it at the last step (task sites).
    pub worker: Option<u32>,
}

/// All resource items and a cell index to find them.
#[derive(Resource, Debug, Clone, Default)]
pub struct Items {
    /// Every item slot (alive or waiting to respawn).
    pub list: Vec<Item>,
    cells: Vec<u32>,
    clusters: Vec<u32>,
}

impl Items {
    /// The live item on `p`.
    pub fn at(&self, grid: &Grid, p: GridPos) -> Option<&Item> {
        grid.index(p).and_then(|i| self.cells[i].checked_sub(1)).map(|k| &self.list[k as usize])
    }

    fn place(&mut self, grid: &Grid, k: usize, p: GridPos) {
        self.list[k].pos = p;
        self.list[k].alive = true;
        self.list[k].progress = 0;
        self.list[k].worker = None;
        if let Some(i) = grid.index(p) {
            self.cells[i] = k as u32 + 1;
        }
    }

    fn remove(&mut self, grid: &Grid, k: usize) {
        let p = self.list[k].pos;
        self.list[k].alive = false;
        self.list[k].worker = None;
        if let Some(i) = grid.index(p) {
            self.cells[i] = 0;
        }
        let c = self.list[k].cluster as usize;
        self.clusters[c] = self.clusters[c].saturating_sub(1);
    }

    fn move_to(&mut self, grid: &Grid, k: usize, to: GridPos) {
        if let Some(i) = grid.index(self.list[k].pos) {
            self.cells[i] = 0;
        }
        self.list[k].pos = to;
        if let Some(i) = grid.index(to) {
            self.cells[i] = k as u32 + 1;
        }
    }
}

/// Agent entities by id (index = id): the fixed order conflicts resolve in.
#[derive(Resource, Debug, Clone, Default)]
pub struct AgentOrder(pub Vec<Entity>);

/// Policy entities in creation order (team order, then agent order).
#[derive(Resource, Debug, Clone, Default)]
pub struct PolicyOrder(pub Vec<Entity>);

/// The random stream of the world and of exploration, reseeded per episode.
#[derive(Resource, Debug, Clone)]
pub struct SimRng(pub ChaCha8Rng);

/// Generation of the scene the world was built from.
#[derive(Resource, Debug, Clone, Copy)]
struct BuiltGeneration(u64);

/// SplitMix64: a good, cheap way to derive independent seeds.
pub fn mix_seed(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed of one episode of a run.
pub fn episode_seed(run_seed: u64, episode: u64) -> u64 {
    mix_seed(mix_seed(run_seed) ^ episode.wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

/// Builds the world if the active scene is new or changed since the last build.
pub fn rebuild_if_scene_changed(world: &mut World) {
    let Some(generation) = world.get_resource::<ActiveScene>().map(|a| a.generation) else { return };
    if world.get_resource::<BuiltGeneration>().is_some_and(|b| b.0 == generation) {
        return;
    }
    build_world(world);
}

/// (Re)builds everything from the active scene: grid, items, policies and
/// agents, then places them for the run's first episode.
pub fn build_world(world: &mut World) {
    let Some(active) = world.get_resource::<ActiveScene>().cloned() else { return };
    let run = world.get_resource::<RunConfig>().copied().unwrap_or_default();
    let scene = &active.scene;

    for e in world.resource_mut::<AgentOrder>().0.drain(..).collect::<Vec<_>>() {
        world.despawn(e);
    }
    for e in world.resource_mut::<PolicyOrder>().0.drain(..).collect::<Vec<_>>() {
        world.despawn(e);
    }

    let grid = Grid::from_scene(scene);
    let mut items = Items::default();
    let mut cluster = 0u32;
    for (s, spec) in scene.resources.iter().enumerate() {
        for _ in 0..spec.count {
            for _ in 0..spec.cluster {
                items.list.push(Item {
                    kind: spec.kind,
                    pos: GridPos::default(),
                    spec: s as u16,
                    cluster,
                    alive: false,
                    progress: 0,
                    worker: None,
                });
            }
            items.clusters.push(0);
            cluster += 1;
        }
    }
    items.cells = vec![0; grid.width * grid.height];
    world.insert_resource(Occupancy::new(&grid));
    world.insert_resource(grid);
    world.insert_resource(items);
    world.insert_resource(CommSettings { mode: scene.comm, channel: scene.channel });
    world.insert_resource(scene.hyperparameters);
    world.insert_resource(EpisodeStats::default());
    world.insert_resource(Episode { index: run.first_episode, step: 0, max_steps: scene.episode_steps, finished: 0 });

    let mut agents = Vec::new();
    let mut policies = Vec::new();
    let mut id = 0u32;
    for (t, team) in scene.teams.iter().enumerate() {
        let shared = (team.learning == Learning::Shared).then(|| {
            let e = world
                .spawn((
                    QTable::new(NUM_STATES, Action::COUNT, format!("team/{}", team.name), t as u16),
                    Name::new(format!("policy {}", team.name)),
                ))
                .id();
            policies.push(e);
            e
        });
        for k in 0..team.agents {
            let policy = shared.unwrap_or_else(|| {
                let e = world
                    .spawn((
                        QTable::new(NUM_STATES, Action::COUNT, format!("agent/{}/{k}", team.name), t as u16),
                        Name::new(format!("policy {} {k}", team.name)),
                    ))
                    .id();
                policies.push(e);
                e
            });
            let e = world
                .spawn((
                    Agent { id, team: t as u16, dialect: team.dialect },
                    Name::new(format!("{} {k}", team.name)),
                    GridPos::default(),
                    Vision { radius: scene.vision_radius },
                    Observation::default(),
                    Inbox::default(),
                    Outbox::default(),
                    Action::Stay,
                    Body::default(),
                    Reward::default(),
                    Learner::default(),
                    UsesPolicy(policy),
                ))
                .id();
            agents.push(e);
            id += 1;
        }
    }
    world.insert_resource(AgentOrder(agents));
    world.insert_resource(PolicyOrder(policies));
    world.insert_resource(BuiltGeneration(active.generation));
    place_for_episode(world);
}

/// Reseeds the episode's random stream, places agents and items, and clears
/// per-episode agent state.
fn place_for_episode(world: &mut World) {
    let run = *world.resource::<RunConfig>();
    let episode = *world.resource::<Episode>();
    let mut rng = ChaCha8Rng::seed_from_u64(episode_seed(run.seed, episode.index));
    let scene = world.resource::<ActiveScene>().scene.clone();
    let grid = world.resource::<Grid>().clone();
    let order = world.resource::<AgentOrder>().0.clone();

    let mut occupancy = Occupancy::new(&grid);
    let mut positions = Vec::with_capacity(order.len());
    let mut id = 0u32;
    for (t, team) in scene.teams.iter().enumerate() {
        for k in 0..team.agents as usize {
            let p = if let Some(&(x, y)) = team.start.get(k) {
                GridPos::new(x as i32, y as i32)
            } else {
                let zone = &grid.zones[t];
                let pool = if zone.is_empty() { grid.floor() } else { zone.as_slice() };
                random_free(&mut rng, pool, &grid, |p| !occupancy.is_taken(&grid, p))
                    .or_else(|| random_free(&mut rng, grid.floor(), &grid, |p| !occupancy.is_taken(&grid, p)))
                    .unwrap_or_default()
            };
            occupancy.put(&grid, p, id);
            positions.push(p);
            id += 1;
        }
    }
    let mut items = world.resource::<Items>().clone();
    items.cells.fill(0);
    for it in &mut items.list {
        it.alive = false;
    }
    items.clusters.fill(0);
    for c in 0..items.clusters.len() {
        spawn_cluster(&mut items, c as u32, &scene, &grid, &occupancy, &mut rng);
    }
    for (e, p) in order.iter().zip(positions) {
        if let Ok(mut entity) = world.get_entity_mut(*e) {
            if let Some(mut pos) = entity.get_mut::<GridPos>() {
                *pos = p;
            }
            entity.insert((
                Body::default(),
                Reward::default(),
                Observation::default(),
                Outbox::default(),
                Action::Stay,
            ));
            if let Some(mut inbox) = entity.get_mut::<Inbox>() {
                inbox.clear();
            }
            if let Some(mut learner) = entity.get_mut::<Learner>() {
                learner.forget_transition();
            }
        }
    }
    world.insert_resource(occupancy);
    world.insert_resource(items);
    world.insert_resource(SimRng(rng));
    let mut stats = world.resource_mut::<EpisodeStats>();
    stats.begin_episode();
    let alive = world.resource::<Items>().list.iter().filter(|i| i.alive).count() as u64;
    world.resource_mut::<EpisodeStats>().items_spawned += alive;
}

/// A random cell of `pool` that is floor, has no item and passes `ok`.
fn random_free(rng: &mut ChaCha8Rng, pool: &[GridPos], grid: &Grid, ok: impl Fn(GridPos) -> bool) -> Option<GridPos> {
    if pool.is_empty() {
        return None;
    }
    for _ in 0..64 {
        let p = pool[rng.random_range(0..pool.len())];
        if grid.is_floor(p) && ok(p) {
            return Some(p);
        }
    }
    let start = rng.random_range(0..pool.len());
    (0..pool.len()).map(|i| pool[(start + i) % pool.len()]).find(|&p| grid.is_floor(p) && ok(p))
}

/// Places every item of cluster slot `c` around a new random centre.
fn spawn_cluster(items: &mut Items, c: u32, scene: &Scene, grid: &Grid, occupancy: &Occupancy, rng: &mut ChaCha8Rng) {
    let members: Vec<usize> = (0..items.list.len()).filter(|&k| items.list[k].cluster == c).collect();
    let Some(&first) = members.first() else { return };
    let spec = &scene.resources[items.list[first].spec as usize];
    let free = |items: &Items, p: GridPos| items.at(grid, p).is_none() && !occupancy.is_taken(grid, p);
    let Some(centre) = random_free(rng, grid.floor(), grid, |p| free(items, p)) else { return };
    let r = spec.cluster_radius as i32;
    for (n, &k) in members.iter().enumerate() {
        let mut spot = None;
        if n == 0 {
            spot = Some(centre);
        } else {
            for _ in 0..32 {
                let p = GridPos::new(centre.x + rng.random_range(-r..=r), centre.y + rng.random_range(-r..=r));
                if grid.is_floor(p) && free(items, p) {
                    spot = Some(p);
                    break;
                }
            }
        }
        let spot = spot.or_else(|| random_free(rng, grid.floor(), grid, |p| free(items, p)));
        if let Some(p) = spot {
            items.place(grid, k, p);
            items.clusters[c as usize] += 1;
        }
    }
}

/// Act (after agents): prey that sees an agent flees with its `flee`
/// probability (to the neighbour farthest from the nearest agent), otherwise
/// it wanders.
pub fn move_prey(
    grid: Res<Grid>,
    scene: Res<ActiveScene>,
    occupancy: Res<Occupancy>,
    order: Res<AgentOrder>,
    mut items: ResMut<Items>,
    mut rng: ResMut<SimRng>,
    agents: Query<&GridPos, With<Agent>>,
) {
    for k in 0..items.list.len() {
        let item = items.list[k];
        if !item.alive || item.kind != ResourceKind::Prey {
            continue;
        }
        let spec = &scene.scene.resources[item.spec as usize];
        let r = spec.prey_vision as i32;
        let mut nearest: Option<GridPos> = None;
        for &e in &order.0 {
            if let Ok(&p) = agents.get(e) {
                let d = (p.x - item.pos.x).abs().max((p.y - item.pos.y).abs());
                if d <= r && nearest.is_none_or(|n| p.manhattan(item.pos) < n.manhattan(item.pos)) {
                    nearest = Some(p);
                }
            }
        }
        let open = |p: GridPos| grid.is_floor(p) && !occupancy.is_taken(&grid, p) && items.at(&grid, p).is_none();
        let flee_roll: f32 = rng.0.random();
        let target = match nearest {
            Some(threat) if flee_roll < spec.flee => Action::ALL
                .into_iter()
                .map(|a| item.pos.step(a))
                .filter(|&p| p == item.pos || open(p))
                .max_by_key(|&p| (p.manhattan(threat), std::cmp::Reverse(p.y * 64 + p.x))),
            _ => {
                let a = Action::from_index(rng.0.random_range(0..Action::COUNT));
                Some(item.pos.step(a)).filter(|&p| open(p))
            }
        };
        if let Some(to) = target
            && to != item.pos
        {
            items.move_to(&grid, k, to);
        }
    }
}

/// Reward: eat, lift, catch and serve; pays rewards, counts figures, and
/// respawns consumed clusters elsewhere.
pub fn resolve_interactions(
    grid: Res<Grid>,
    scene: Res<ActiveScene>,
    hyper: Res<Hyperparameters>,
    occupancy: Res<Occupancy>,
    order: Res<AgentOrder>,
    mut episode: ResMut<Episode>,
    mut items: ResMut<Items>,
    mut rng: ResMut<SimRng>,
    mut stats: ResMut<EpisodeStats>,
    mut agents: Query<(&Body, &mut Reward)>,
    mut busy: Local<Vec<bool>>,
) {
    episode.step += 1;
    busy.clear();
    busy.resize(order.0.len(), false);
    for &e in &order.0 {
        if let Ok((body, mut reward)) = agents.get_mut(e) {
            reward.pending = hyper.reward_step + if body.bumped { hyper.reward_bump } else { 0.0 };
        }
    }
    let mut pay = |id: u32, r: f32, busy: &mut Vec<bool>| {
        if let Some(&e) = order.0.get(id as usize)
            && let Ok((_, mut reward)) = agents.get_mut(e)
        {
            reward.pending += r;
        }
        if let Some(b) = busy.get_mut(id as usize) {
            *b = true;
        }
    };
    let mut any_consumed = false;
    for k in 0..items.list.len() {
        let item = items.list[k];
        if !item.alive {
            continue;
        }
        let around = [
            item.pos,
            item.pos.step(Action::North),
            item.pos.step(Action::East),
            item.pos.step(Action::South),
            item.pos.step(Action::West),
        ];
        let mut near = [0u32; 5];
        let mut n = 0;
        for &p in &around {
            if let Some(id) = occupancy.agent_at(&grid, p) {
                near[n] = id;
                n += 1;
            }
        }
        let near = &mut near[..n];
        near.sort_unstable();
        let needs = scene.scene.resources[item.spec as usize].needs as usize;
        if matches!(item.kind, ResourceKind::Heavy | ResourceKind::Prey) {
            // Waiting by an item that needs company is work, not idling.
            for &id in near.iter() {
                if let Some(b) = busy.get_mut(id as usize) {
                    *b = true;
                }
            }
        }
        let consumed = match item.kind {
            ResourceKind::Food => match occupancy.agent_at(&grid, item.pos) {
                Some(id) => {
                    pay(id, hyper.reward_food, &mut busy);
                    true
                }
                None => false,
            },
            ResourceKind::Heavy | ResourceKind::Prey => {
                if near.len() >= needs {
                    let r = if item.kind == ResourceKind::Heavy { hyper.reward_lift } else { hyper.reward_capture };
                    for &id in near.iter() {
                        pay(id, r, &mut busy);
                    }
                    true
                } else {
                    false
                }
            }
            ResourceKind::Task => {
                stats.site_steps += 1;
                if near.is_empty() {
                    items.list[k].worker = None;
                    false
                } else {
                    // The incumbent keeps the site; otherwise the lowest id takes it.
                    let worker = item.worker.filter(|w| near.contains(w)).unwrap_or(near[0]);
                    items.list[k].worker = Some(worker);
                    items.list[k].progress += 1;
                    stats.site_steps_served += 1;
                    pay(worker, hyper.reward_task_work, &mut busy);
                    for &id in near.iter().filter(|&&id| id != worker) {
                        pay(id, hyper.reward_crowding, &mut busy);
                        stats.wasted_agent_steps += 1;
                    }
                    let work = scene.scene.resources[item.spec as usize].work_steps;
                    if items.list[k].progress >= work {
                        pay(worker, hyper.reward_task_done, &mut busy);
                        true
                    } else {
                        false
                    }
                }
            }
        };
        if consumed {
            stats.completions += 1;
            items.remove(&grid, k);
            any_consumed = true;
        }
    }
    if any_consumed {
        for c in 0..items.clusters.len() {
            if items.clusters[c] == 0 {
                spawn_cluster(&mut items, c as u32, &scene.scene, &grid, &occupancy, &mut rng.0);
                stats.items_spawned += items.clusters[c] as u64;
            }
        }
    }
    for (i, &e) in order.0.iter().enumerate() {
        if let Ok((body, mut reward)) = agents.get_mut(e) {
            if !body.moved && !busy[i] {
                stats.idle_agent_steps += 1;
                reward.pending += hyper.reward_idle;
            }
            let r = reward.pending;
            reward.episode += r;
            stats.reward += r as f64;
        }
    }
    stats.agent_steps += order.0.len() as u64;
}

/// Reward (last): when the episode is over, moves on to the next episode
/// index and lays out a fresh world; policies are kept.
pub fn start_next_episode(world: &mut World) {
    let episode = *world.resource::<Episode>();
    if !episode.ending() {
        return;
    }
    let stride = world.resource::<RunConfig>().stride.max(1);
    {
        let mut ep = world.resource_mut::<Episode>();
        ep.index += stride;
        ep.step = 0;
        ep.finished += 1;
    }
    place_for_episode(world);
}

/// Agents currently on the grid, by id, with their positions (for tests and tools).
pub fn agent_positions(world: &mut World) -> Vec<GridPos> {
    let order = world.resource::<AgentOrder>().0.clone();
    order.iter().filter_map(|e| world.get::<GridPos>(*e).copied()).collect()
}
