//! Whole headless Apps (`MinimalPlugins + SimPlugin`) on shipped scenes:
//! the world's invariants, messages, episode bookkeeping.

use std::collections::HashSet;

use bevy::prelude::*;
use colony::agent::{Agent, GridPos};
use colony::comm::{CommMode, Inbox};
use colony::learn::PolicyMode;
use colony::metrics::{EpisodeLog, EpisodeStats};
use colony::scene::{ActiveScene, Scene};
use colony::world::{Episode, Grid, Items, RunConfig, agent_positions};

use crate::common::{SHIPPED, shipped};

fn app(scene: Scene, seed: u64) -> App {
    colony::headless_app(
        ActiveScene::new(scene, None),
        RunConfig { seed, first_episode: 0, stride: 1, mode: PolicyMode::Learn },
        colony::lm::LmSettings::default(),
    )
}

#[test]
fn agents_stay_on_floor_and_never_share_a_cell() {
    for name in SHIPPED {
        let mut app = app(shipped(name), 3);
        for step in 0..250 {
            app.update();
            let positions = agent_positions(app.world_mut());
            let grid = app.world().resource::<Grid>();
            let unique: HashSet<_> = positions.iter().collect();
            assert_eq!(unique.len(), positions.len(), "{name}: two agents share a cell at step {step}");
            assert!(positions.iter().all(|&p| grid.is_floor(p)), "{name}: an agent is on a wall at step {step}");
            let items = app.world().resource::<Items>();
            for it in items.list.iter().filter(|i| i.alive) {
                assert!(grid.is_floor(it.pos), "{name}: an item is on a wall");
                assert_eq!(items.at(grid, it.pos).map(|i| i.pos), Some(it.pos));
            }
        }
    }
}

#[test]
fn one_step_per_update_and_episodes_roll_over() {
    let scene = shipped("foraging");
    let steps = scene.episode_steps;
    let mut app = app(scene, 1);
    app.update();
    assert_eq!(app.world().resource::<Episode>().step, 1);
    for _ in 1..steps {
        app.update();
    }
    let ep = *app.world().resource::<Episode>();
    assert_eq!((ep.index, ep.step, ep.finished), (1, 0, 1));
    let log = app.world().resource::<EpisodeLog>();
    assert_eq!(log.rows.len(), 1);
    assert_eq!(log.rows[0].steps, steps);
    assert_eq!(log.rows[0].episode, 0);
}

#[test]
fn symbolic_agents_talk_and_comm_off_agents_do_not() {
    let mut on = shipped("foraging");
    on.comm = CommMode::Symbolic;
    let mut off = on.clone();
    off.comm = CommMode::Off;
    let mut a = app(on, 5);
    let mut b = app(off, 5);
    let mut heard = false;
    for _ in 0..199 {
        a.update();
        b.update();
        let mut q = a.world_mut().query::<&Inbox>();
        heard |= q.iter(a.world()).any(|i| i.iter().count() > 0);
        let mut q = b.world_mut().query::<&Inbox>();
        assert!(q.iter(b.world()).all(|i| i.iter().count() == 0), "comm off must leave inboxes empty");
    }
    assert!(heard, "with symbolic comm some agent should hear something in 199 steps");
    let sa = a.world().resource::<EpisodeStats>().clone();
    let sb = b.world().resource::<EpisodeStats>().clone();
    assert!(sa.messages_sent > 0 && sa.messages_delivered > 0, "{sa:?}");
    assert_eq!((sb.messages_sent, sb.messages_delivered), (0, 0));
}

#[test]
fn the_bandwidth_budget_drops_and_counts() {
    let mut scene = shipped("foraging");
    scene.channel.bandwidth = 1;
    // Everyone starts together; vision large enough that most see food.
    scene.vision_radius = 10;
    let mut app = app(scene, 2);
    for _ in 0..50 {
        app.update();
    }
    let s = app.world().resource::<EpisodeStats>();
    assert!(s.messages_dropped > 0, "{s:?}");
    assert!(s.messages_sent - s.messages_dropped <= 50, "at most one message per step gets through: {s:?}");
}

#[test]
fn the_same_seed_gives_the_same_world() {
    let run = |seed| {
        let mut app = app(shipped("predator_prey"), seed);
        for _ in 0..120 {
            app.update();
        }
        let mut q = app.world_mut().query::<(&Agent, &GridPos)>();
        let mut v: Vec<(u32, GridPos)> = q.iter(app.world()).map(|(a, p)| (a.id, *p)).collect();
        v.sort_by_key(|x| x.0);
        (v, app.world().resource::<EpisodeStats>().clone())
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9).0, run(10).0);
}

#[test]
fn shared_policies_are_entities_related_to_their_agents() {
    let app = app(shipped("heavy_lift"), 1);
    let world = app.world();
    let order = &world.resource::<colony::world::PolicyOrder>().0;
    assert_eq!(order.len(), 1, "heavy_lift has one team with a shared table");
    let users = world.get::<colony::learn::PolicyUsers>(order[0]).expect("policy users");
    assert_eq!(users.agents().len(), 4);
}

fn llm_app(scene: Scene, seed: u64) -> App {
    let mut scene = scene;
    scene.comm = CommMode::Llm;
    app(scene, seed)
}

#[test]
fn llm_agents_talk_through_the_shipped_model_and_learn() {
    let mut app = llm_app(shipped("foraging"), 4);
    assert!(app.world().contains_resource::<colony::comm::LanguageModel>(), "the shipped model loads");
    for _ in 0..400 {
        app.update();
    }
    let row = app.world().resource::<EpisodeLog>().rows[1].clone();
    assert!(row.messages_sent > 0 && row.messages_delivered > 0, "{row:?}");
    assert_eq!(row.messages_invalid, 0, "the shipped model reads its own utterances: {row:?}");
    let order = app.world().resource::<colony::world::PolicyOrder>().0.clone();
    let q = app.world().get::<colony::learn::QTable>(order[0]).expect("table");
    assert!(q.q.iter().any(|v| *v != 0.0), "agents learn while talking");
}

#[test]
fn llm_and_symbolic_deliver_the_same_meaning() {
    // With a model that reads everything right and no noise, talking in text
    // changes nothing: the two worlds stay identical step for step.
    let mut a = app(shipped("foraging"), 8);
    let mut b = llm_app(shipped("foraging"), 8);
    for _ in 0..150 {
        a.update();
        b.update();
    }
    assert_eq!(agent_positions(a.world_mut()), agent_positions(b.world_mut()));
    let (sa, sb) = (a.world().resource::<EpisodeStats>().clone(), b.world().resource::<EpisodeStats>().clone());
    assert_eq!(sa.messages_delivered, sb.messages_delivered);
}

struct Garbage;

impl colony::comm::Language for Garbage {
    fn name(&self) -> &str {
        "garbage"
    }
    fn say(&mut self, items: &[(colony::comm::Intent, colony::comm::Dialect)], out: &mut Vec<Option<String>>) {
        out.clear();
        out.extend(items.iter().enumerate().map(|(i, _)| (i % 3 != 0).then(|| "zq#@!".to_string())));
    }
    fn translate(&mut self, items: &[(&str, colony::comm::Dialect)], out: &mut Vec<Option<String>>) {
        out.clear();
        out.resize(items.len(), None);
    }
    fn read(&mut self, items: &[&str], out: &mut Vec<Option<colony::comm::Intent>>) {
        out.clear();
        out.extend(items.iter().map(|t| t.parse().ok()));
    }
}

#[test]
fn garbage_model_output_is_counted_and_survived() {
    let mut app = llm_app(shipped("foraging"), 4);
    app.insert_resource(colony::comm::LanguageModel(Box::new(Garbage)));
    for _ in 0..120 {
        app.update();
    }
    let s = app.world().resource::<EpisodeStats>().clone();
    assert!(s.messages_invalid > 0, "{s:?}");
    assert_eq!(s.messages_delivered, 0, "nothing readable was said: {s:?}");
    let mut q = app.world_mut().query::<&Inbox>();
    assert!(q.iter(app.world()).all(|i| i.iter().count() == 0));
}

#[test]
fn babel_translates_or_drops_foreign_messages() {
    let run = |foreign| {
        let mut scene = shipped("babel");
        scene.channel.foreign = foreign;
        scene.channel.noise = 0.0;
        let mut app = app(scene, 6);
        for _ in 0..150 {
            app.update();
        }
        app.world().resource::<EpisodeStats>().clone()
    };
    let translated = run(colony::comm::Foreign::Translated);
    let dropped = run(colony::comm::Foreign::Dropped);
    assert!(translated.messages_translated > 0, "{translated:?}");
    assert_eq!(dropped.messages_translated, 0);
    assert!(translated.messages_delivered > dropped.messages_delivered, "{translated:?} vs {dropped:?}");
}
