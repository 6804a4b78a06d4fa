//! The egui panels: Simulation, Hyperparameters and Policy on the left;
//! Inspector, Metrics and Messages on the right; a legend and the scene
//! error banner over the view. Panels edit resources directly or queue a
//! [`GuiAction`] for edits that need the whole world.

use std::path::PathBuf;
use std::time::Instant;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use super::actions::{GuiAction, PendingActions};
use super::logic::team_color;
use super::reload::SceneWatch;
use super::view::{ViewPools, kind_color};
use super::{FrameTimes, GuiConfig, SpeedControl, ViewSettings};
use crate::agent::{Action, Agent, Body, GridPos, Observation, Reward};
use crate::comm::{CommMode, CommSettings, Inbox, MessageLog};
use crate::learn::{Hyperparameters, Learner, PolicyMode, QState, QTable, UsesPolicy};
use crate::metrics::{EpisodeLog, EpisodeStats};
use crate::scene::{ActiveScene, ResourceKind};
use crate::world::{AgentOrder, Episode, RunConfig};

/// Panel-only state: text fields, the scene list, the last status line.
#[derive(Resource, Debug)]
pub struct PanelState {
    /// Path typed in the Policy section.
    pub policy_path: String,
    /// Result of the last action: (is error, text).
    pub status: Option<(bool, String)>,
    /// Scene files of the scene folder (rescanned on demand).
    pub scene_files: Option<Vec<PathBuf>>,
}

impl Default for PanelState {
    fn default() -> Self {
        Self { policy_path: "runs/gui/policy.safetensors".into(), status: None, scene_files: None }
    }
}

/// One sample of the running episode.
#[derive(Debug, Clone, Copy)]
pub struct SeriesPoint {
    step: u32,
    reward: f64,
    completions: u64,
    sent: u64,
    delivered: u64,
    dropped: u64,
}

/// Figures of the current episode, one sample per step seen by the GUI.
#[derive(Resource, Debug, Default)]
pub struct EpisodeSeries {
    episode: Option<u64>,
    points: Vec<SeriesPoint>,
}

/// View: samples the running episode's stats for the within-episode plot.
pub fn record_episode_series(
    episode: Option<Res<Episode>>,
    stats: Option<Res<EpisodeStats>>,
    mut series: ResMut<EpisodeSeries>,
) {
    let (Some(ep), Some(stats)) = (episode, stats) else { return };
    if series.episode != Some(ep.index) {
        series.episode = Some(ep.index);
        series.points.clear();
    }
    if series.points.last().is_some_and(|p| p.step == ep.step) || series.points.len() > 20_000 {
        return;
    }
    series.points.push(SeriesPoint {
        step: ep.step,
        reward: stats.reward,
        completions: stats.completions,
        sent: stats.messages_sent,
        delivered: stats.messages_delivered,
        dropped: stats.messages_dropped,
    });
}

/// The simulation resources the panels read and edit.
#[derive(SystemParam)]
pub struct SimParams<'w> {
    hyper: ResMut<'w, Hyperparameters>,
    comm: ResMut<'w, CommSettings>,
    run: ResMut<'w, RunConfig>,
    active: Res<'w, ActiveScene>,
    episode: Option<Res<'w, Episode>>,
    stats: Option<Res<'w, EpisodeStats>>,
    log: Res<'w, EpisodeLog>,
    messages: Res<'w, MessageLog>,
    order: Option<Res<'w, AgentOrder>>,
    lm: ResMut<'w, crate::lm::LmSettings>,
    lm_status: Res<'w, crate::lm::LmStatus>,
}

/// The GUI resources the panels read and edit.
#[derive(SystemParam)]
pub struct GuiParams<'w> {
    view: ResMut<'w, ViewSettings>,
    speed: ResMut<'w, SpeedControl>,
    times: ResMut<'w, FrameTimes>,
    pending: ResMut<'w, PendingActions>,
    panel: ResMut<'w, PanelState>,
    series: Res<'w, EpisodeSeries>,
    watch: Option<Res<'w, SceneWatch>>,
    config: Res<'w, GuiConfig>,
    pools: Option<Res<'w, ViewPools>>,
}

type AgentView<'a> = (
    &'a Agent,
    &'a Name,
    &'a GridPos,
    &'a Observation,
    &'a Action,
    &'a Body,
    &'a Reward,
    &'a Inbox,
    &'a Learner,
    &'a UsesPolicy,
);

const LEFT_WIDTH: f32 = 300.0;
const RIGHT_WIDTH: f32 = 360.0;

/// UI pass: every panel; records the free view rectangle and the UI time.
pub fn draw_panels(
    mut contexts: EguiContexts,
    mut sim: SimParams,
    mut gui: GuiParams,
    agents: Query<AgentView>,
    tables: Query<&QTable>,
) -> Result {
    let started = Instant::now();
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "colony root".into(),
        egui::UiBuilder::new().layer_id(egui::LayerId::background()).max_rect(ctx.viewport_rect()),
    );

    egui::Panel::left("left panel").resizable(true).default_size(LEFT_WIDTH).show(&mut root, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            ui.heading("colony");
            egui::CollapsingHeader::new("Simulation").default_open(true).show(ui, |ui| {
                simulation_section(ui, &mut sim, &mut gui);
            });
            egui::CollapsingHeader::new("Hyperparameters").default_open(true).show(ui, |ui| {
                hyperparameter_section(ui, &mut sim, &mut gui);
            });
            egui::CollapsingHeader::new("Policy").default_open(true).show(ui, |ui| {
                policy_section(ui, &mut gui);
            });
            if let Some((is_error, text)) = &gui.panel.status {
                ui.separator();
                let color = if *is_error {
                    egui::Color32::from_rgb(220, 80, 70)
                } else {
                    egui::Color32::from_rgb(110, 190, 110)
                };
                ui.colored_label(color, text);
            }
        });
    });

    egui::Panel::right("right panel").resizable(true).default_size(RIGHT_WIDTH).show(&mut root, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            egui::CollapsingHeader::new("Inspector").default_open(true).show(ui, |ui| {
                inspector_section(ui, &sim, &mut gui, &agents, &tables);
            });
            egui::CollapsingHeader::new("Metrics").default_open(true).show(ui, |ui| {
                metrics_section(ui, &sim, &gui);
            });
            egui::CollapsingHeader::new("Messages").default_open(true).show(ui, |ui| {
                messages_section(ui, &sim);
            });
        });
    });

    if let Some(error) = gui.watch.as_ref().and_then(|w| w.error.clone()) {
        egui::Panel::top("scene error")
            .frame(egui::Frame::new().fill(egui::Color32::from_rgb(120, 28, 28)).inner_margin(6.0))
            .show(&mut root, |ui| {
                ui.colored_label(egui::Color32::WHITE, "The scene file has an error; the running world is kept:");
                ui.label(egui::RichText::new(error).monospace().color(egui::Color32::from_rgb(255, 220, 200)));
            });
    }

    egui::Panel::bottom("legend")
        .frame(egui::Frame::new().fill(egui::Color32::from_rgba_unmultiplied(27, 27, 27, 235)).inner_margin(4.0))
        .show(&mut root, |ui| legend(ui, &sim, &gui));

    let free = root.available_rect_before_wrap();
    gui.view.view_rect = Some(Rect::new(free.min.x, free.min.y, free.max.x, free.max.y));
    let ms = started.elapsed().as_secs_f32() * 1000.0;
    gui.times.ui_ms = if gui.times.ui_ms == 0.0 { ms } else { gui.times.ui_ms * 0.9 + ms * 0.1 };
    Ok(())
}

fn simulation_section(ui: &mut egui::Ui, sim: &mut SimParams, gui: &mut GuiParams) {
    let scene = &sim.active.scene;
    ui.label(format!("scene `{}`: {}", scene.name, scene.description));
    if let Some(ep) = &sim.episode {
        ui.label(format!("episode {}  step {}/{}  ({} finished)", ep.index, ep.step, ep.max_steps, ep.finished));
    }
    let agents = sim.order.as_ref().map_or(0, |o| o.0.len());
    ui.label(format!("{agents} agents"));
    ui.horizontal(|ui| {
        let label = if gui.speed.paused { "▶ Play" } else { "⏸ Pause" };
        if ui.button(label).clicked() {
            gui.speed.paused = !gui.speed.paused;
        }
        if ui.add_enabled(gui.speed.paused, egui::Button::new("Step")).clicked() {
            gui.speed.single_step = true;
        }
        if ui.button("Reset episode").on_hover_text("A fresh layout; the learned policies stay").clicked() {
            gui.pending.0.push(GuiAction::ResetEpisode);
        }
    });
    ui.horizontal(|ui| {
        ui.label("speed");
        ui.add_enabled(
            !gui.speed.max_speed,
            egui::Slider::new(&mut gui.speed.steps_per_frame, 1..=1000).logarithmic(true).suffix(" steps/frame"),
        );
    });
    ui.horizontal(|ui| {
        for n in [1u32, 4, 16, 64] {
            if ui.selectable_label(!gui.speed.max_speed && gui.speed.steps_per_frame == n, format!("{n}x")).clicked() {
                gui.speed.steps_per_frame = n;
                gui.speed.max_speed = false;
            }
        }
        ui.checkbox(&mut gui.speed.max_speed, "max").on_hover_text("As many steps per frame as fit in ~8 ms");
    });
    ui.horizontal(|ui| {
        ui.label("agents");
        for (mode, name) in
            [(PolicyMode::Learn, "learn"), (PolicyMode::Greedy, "greedy"), (PolicyMode::Random, "random")]
        {
            if ui.selectable_label(sim.run.mode == mode, name).clicked() {
                sim.run.mode = mode;
            }
        }
    });
    let t = &gui.times;
    ui.label(
        egui::RichText::new(format!(
            "frame {:5.1} ms ({:.0} fps)\nsim   {:5.2} ms ({} steps)\nview  {:5.2} ms   ui {:5.2} ms",
            t.frame_ms,
            if t.frame_ms > 0.0 { 1000.0 / t.frame_ms } else { 0.0 },
            t.sim_ms,
            t.steps,
            t.view_ms,
            t.ui_ms
        ))
        .monospace()
        .size(11.0),
    );

    ui.separator();
    let files = gui.panel.scene_files.get_or_insert_with(|| list_scenes(&gui.config.scene_dir)).clone();
    let current = sim.active.path.clone();
    let current_name =
        current.as_ref().and_then(|p| p.file_name()).map_or("(none)".into(), |n| n.to_string_lossy().into_owned());
    ui.horizontal(|ui| {
        ui.label("scene");
        egui::ComboBox::from_id_salt("scene picker").selected_text(current_name).width(150.0).show_ui(ui, |ui| {
            for f in &files {
                let name = f.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                if ui.selectable_label(current.as_ref() == Some(f), name).clicked() {
                    gui.pending.0.push(GuiAction::OpenScene(f.clone()));
                }
            }
        });
        if ui.button("⟳").on_hover_text("Rescan the scene folder").clicked() {
            gui.panel.scene_files = None;
        }
    });
    ui.horizontal(|ui| {
        if ui.button("Reload scene").on_hover_text("Read the file again; fresh world and policies").clicked() {
            gui.pending.0.push(GuiAction::ReloadScene);
        }
        let watching = gui.watch.as_ref().is_some_and(|w| w.handle.is_some());
        let reloads = gui.watch.as_ref().map_or(0, |w| w.reloads);
        ui.weak(if watching { format!("hot reload on ({reloads})") } else { "not watched".into() });
    });

    ui.separator();
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut gui.view.show_headings, "headings");
        ui.checkbox(&mut gui.view.show_messages, "messages");
        ui.checkbox(&mut gui.view.show_labels, "labels");
        ui.checkbox(&mut gui.view.show_vision, "vision");
        ui.checkbox(&mut gui.view.show_heat, "value heat map").on_hover_text(
            "max_a Q of the state an agent would have on each cell with nothing in sight (selected agent's policy)",
        );
    });
    ui.horizontal(|ui| {
        ui.add(egui::Slider::new(&mut gui.view.fade_steps, 1..=30).text("fade steps"));
        if ui.button("Fit").on_hover_text("Fit the grid into the view (F)").clicked() {
            gui.view.needs_fit = true;
        }
    });
}

fn list_scenes(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "ron")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn hyperparameter_section(ui: &mut egui::Ui, sim: &mut SimParams, gui: &mut GuiParams) {
    let mut edited = *sim.hyper;
    egui::Grid::new("hyper grid").num_columns(2).spacing([6.0, 3.0]).show(ui, |ui| {
        for (info, value) in edited.fields_mut() {
            ui.label(info.name).on_hover_text(info.doc);
            if info.max - info.min <= 1.0 {
                ui.add(egui::Slider::new(value, info.min..=info.max).max_decimals(4));
            } else {
                ui.add(egui::DragValue::new(value).range(info.min..=info.max).speed(0.01).max_decimals(3));
            }
            ui.end_row();
        }
    });
    if edited != *sim.hyper {
        *sim.hyper = edited;
    }
    if let Some(ep) = &sim.episode {
        ui.weak(format!("epsilon now: {:.3}", sim.hyper.epsilon_at(ep.index)));
    }
    ui.separator();
    let mut temperature = sim.lm.temperature;
    ui.horizontal(|ui| {
        ui.label("LM temperature")
            .on_hover_text("Sampling temperature of the language model (0: greedy, reproducible)");
        ui.add(egui::Slider::new(&mut temperature, 0.0..=2.0).max_decimals(2));
    });
    if temperature != sim.lm.temperature {
        sim.lm.temperature = temperature;
    }
    if let Some(err) = &sim.lm_status.error {
        ui.colored_label(egui::Color32::from_rgb(220, 90, 80), format!("language model: {err}"));
    }
    let mut comm = *sim.comm;
    egui::Grid::new("comm grid").num_columns(2).spacing([6.0, 3.0]).show(ui, |ui| {
        ui.label("comm");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut comm.mode, CommMode::Off, "off");
            ui.selectable_value(&mut comm.mode, CommMode::Symbolic, "symbolic");
            ui.selectable_value(&mut comm.mode, CommMode::Llm, "llm");
        });
        ui.end_row();
        ui.label("range").on_hover_text("Cells a message reaches (Chebyshev)");
        ui.add(egui::Slider::new(&mut comm.channel.range, 0..=64));
        ui.end_row();
        ui.label("bandwidth").on_hover_text("Messages carried per step; the rest are dropped");
        ui.add(egui::Slider::new(&mut comm.channel.bandwidth, 0..=256).logarithmic(true));
        ui.end_row();
        ui.label("ttl").on_hover_text("Steps a message stays in an inbox");
        ui.add(egui::Slider::new(&mut comm.channel.ttl, 1..=64));
        ui.end_row();
        ui.label("inbox").on_hover_text("Messages an inbox holds");
        ui.add(egui::Slider::new(&mut comm.channel.inbox, 1..=crate::comm::MAX_INBOX as u32));
        ui.end_row();
        ui.label("team only");
        ui.checkbox(&mut comm.channel.team_only, "");
        ui.end_row();
    });
    if comm != *sim.comm {
        *sim.comm = comm;
    }
    if ui
        .button("Save these as scene defaults…")
        .on_hover_text(
            "Writes the scene with these values to a new <scene>-defaults-N.ron next to it; never overwrites",
        )
        .clicked()
    {
        gui.pending.0.push(GuiAction::SaveSceneDefaults);
    }
}

fn policy_section(ui: &mut egui::Ui, gui: &mut GuiParams) {
    ui.horizontal(|ui| {
        ui.label("file");
        ui.add(egui::TextEdit::singleline(&mut gui.panel.policy_path).desired_width(f32::INFINITY));
    });
    ui.horizontal(|ui| {
        let path = PathBuf::from(gui.panel.policy_path.trim());
        let ok = !gui.panel.policy_path.trim().is_empty();
        if ui.add_enabled(ok, egui::Button::new("Save policy")).clicked() {
            gui.pending.0.push(GuiAction::SavePolicy(path.clone()));
        }
        if ui.add_enabled(ok, egui::Button::new("Load policy")).clicked() {
            gui.pending.0.push(GuiAction::LoadPolicy(path));
        }
    });
}

fn color32(rgb: [f32; 3]) -> egui::Color32 {
    egui::Color32::from_rgb((rgb[0] * 255.0) as u8, (rgb[1] * 255.0) as u8, (rgb[2] * 255.0) as u8)
}

fn bevy_color32(c: Color) -> egui::Color32 {
    let s = c.to_srgba();
    color32([s.red, s.green, s.blue])
}

fn inspector_section(
    ui: &mut egui::Ui,
    sim: &SimParams,
    gui: &mut GuiParams,
    agents: &Query<AgentView>,
    tables: &Query<&QTable>,
) {
    let Some(order) = &sim.order else { return };
    let entity = gui.view.selected.and_then(|id| order.0.get(id as usize).copied());
    let Some((agent, name, pos, obs, action, body, reward, inbox, learner, policy)) =
        entity.and_then(|e| agents.get(e).ok())
    else {
        ui.weak("Click an agent to inspect it.");
        return;
    };
    let team = sim.active.scene.teams.get(agent.team as usize).map_or("?", |t| t.name.as_str());
    ui.horizontal(|ui| {
        ui.colored_label(color32(team_color(agent.team)), "⏺");
        ui.strong(format!("{name}"));
        ui.weak(format!("id {} · team {team} · {:?}", agent.id, agent.dialect));
        if ui.small_button("◀").clicked() {
            gui.view.selected = Some(agent.id.checked_sub(1).unwrap_or(order.0.len().saturating_sub(1) as u32));
        }
        if ui.small_button("▶").clicked() {
            gui.view.selected = Some((agent.id + 1) % order.0.len().max(1) as u32);
        }
    });
    let heading = ["-", "N", "E", "S", "W"][body.heading as usize % 5];
    ui.label(format!(
        "at ({}, {})  action {}  last move {heading}{}{}",
        pos.x,
        pos.y,
        Action::NAMES[*action as usize],
        if body.moved { "" } else { " (stood)" },
        if body.bumped { " bumped" } else { "" }
    ));
    ui.label(format!("reward: episode {:.2}, last step {:+.3}", reward.episode, reward.pending));
    let walls: String = ["N", "E", "S", "W"]
        .iter()
        .enumerate()
        .map(|(i, n)| if obs.blocked & (1 << i) != 0 { *n } else { "·" })
        .collect();
    ui.label(format!("sees {} item(s) within {}; blocked {walls}", obs.visible().len(), obs.radius));
    for v in obs.visible().iter().take(4) {
        let served = v.served_by.map_or(String::new(), |w| format!(", served by {w}"));
        ui.weak(format!("  {:?} at ({}, {}) Δ({:+}, {:+}){served}", v.kind, v.x, v.y, v.dx, v.dy));
    }
    let state = QState::decode(learner.state as usize);
    ui.label(egui::RichText::new(format!("state {}: {}", learner.state, state.describe())).monospace().size(11.0));
    if let Ok(table) = tables.get(policy.0)
        && (learner.state as usize) < table.states
    {
        let s = learner.state as usize;
        let row = table.row(s);
        let best = row.iter().enumerate().fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
        let bars: Vec<Bar> = row
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let fill = if i == best {
                    egui::Color32::from_rgb(230, 170, 40)
                } else {
                    egui::Color32::from_rgb(90, 140, 210)
                };
                Bar::new(i as f64, v as f64).name(Action::NAMES[i]).fill(fill).width(0.7)
            })
            .collect();
        ui.label(format!(
            "Q(s, ·) of `{}` (visits {})",
            table.name,
            (0..table.actions).map(|a| table.visits[s * table.actions + a]).sum::<u32>()
        ));
        Plot::new("q values")
            .height(110.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .show_grid([false, true])
            .x_grid_spacer(egui_plot::uniform_grid_spacer(|_| [1.0, 5.0, 10.0]))
            .x_axis_formatter(|m, _| {
                Action::NAMES
                    .get(m.value.round() as usize)
                    .filter(|_| (m.value - m.value.round()).abs() < 1e-6)
                    .map_or(String::new(), |s| (*s).to_owned())
            })
            .show(ui, |p| p.bar_chart(BarChart::new("Q", bars)));
        let values: Vec<String> =
            row.iter().enumerate().map(|(i, v)| format!("{} {v:+.2}", Action::NAMES[i])).collect();
        ui.label(egui::RichText::new(values.join("  ")).monospace().size(10.5));
    }
    let messages: Vec<_> = inbox.iter().collect();
    if messages.is_empty() {
        ui.weak("inbox empty");
    } else {
        ui.label(format!("inbox ({}):", messages.len()));
        for r in messages {
            ui.weak(format!("  {}  from {} ({} steps ago)", r.intent, r.sender, r.age));
        }
    }
}

fn line<'a>(name: &str, points: Vec<[f64; 2]>, color: egui::Color32) -> Line<'a> {
    Line::new(name.to_owned(), PlotPoints::from(points)).color(color)
}

fn metrics_section(ui: &mut egui::Ui, sim: &SimParams, gui: &GuiParams) {
    let rows = &sim.log.rows;
    let series = |f: &dyn Fn(&crate::metrics::EpisodeRow) -> f64| {
        rows.iter().map(|r| [r.episode as f64, f(r)]).collect::<Vec<_>>()
    };
    let blue = egui::Color32::from_rgb(90, 150, 230);
    let orange = egui::Color32::from_rgb(235, 150, 50);
    let green = egui::Color32::from_rgb(110, 200, 110);
    let red = egui::Color32::from_rgb(220, 80, 70);
    let grey = egui::Color32::from_rgb(170, 170, 170);
    let plot = |id: &str| {
        Plot::new(id.to_owned())
            .height(95.0)
            .legend(Legend::default())
            .allow_scroll(false)
            .allow_drag(false)
            .allow_zoom(false)
    };
    ui.label(format!("{} episodes finished", rows.len()));
    if let Some(last) = rows.last() {
        ui.weak(format!(
            "last: reward {:.2}, completions {}, efficiency {:.3}, sent {}",
            last.reward, last.completions, last.efficiency, last.messages_sent
        ));
    }
    plot("episode reward").show(ui, |p| {
        p.line(line("reward", series(&|r| r.reward), blue));
    });
    plot("episode efficiency").show(ui, |p| {
        p.line(line("efficiency", series(&|r| r.efficiency), green));
        p.line(line("epsilon", series(&|r| r.epsilon), grey));
    });
    plot("episode messages").show(ui, |p| {
        p.line(line("sent", series(&|r| r.messages_sent as f64), blue));
        p.line(line("delivered", series(&|r| r.messages_delivered as f64), green));
        p.line(line("dropped", series(&|r| r.messages_dropped as f64), red));
        p.line(line("invalid", series(&|r| r.messages_invalid as f64), orange));
    });
    ui.label("this episode");
    if let Some(stats) = &sim.stats {
        ui.weak(format!(
            "reward {:.2}, completions {}, messages {}/{}/{} (sent/delivered/dropped)",
            stats.reward, stats.completions, stats.messages_sent, stats.messages_delivered, stats.messages_dropped
        ));
    }
    let pts = &gui.series.points;
    plot("within episode").show(ui, |p| {
        p.line(line("reward", pts.iter().map(|s| [s.step as f64, s.reward]).collect(), blue));
        p.line(line("completions", pts.iter().map(|s| [s.step as f64, s.completions as f64]).collect(), green));
        p.line(line("sent/10", pts.iter().map(|s| [s.step as f64, s.sent as f64 / 10.0]).collect(), grey));
        p.line(line("dropped/10", pts.iter().map(|s| [s.step as f64, s.dropped as f64 / 10.0]).collect(), red));
        let _ = pts.iter().map(|s| s.delivered).max();
    });
}

fn messages_section(ui: &mut egui::Ui, sim: &SimParams) {
    let entries = &sim.messages.entries;
    ui.weak(format!("last {} messages (newest first)", entries.len()));
    let row_height = 16.0;
    egui::ScrollArea::vertical().id_salt("messages scroll").max_height(220.0).show_rows(
        ui,
        row_height,
        entries.len(),
        |ui, range| {
            for i in range {
                let Some(m) = entries.get(entries.len() - 1 - i) else { continue };
                let receivers: Vec<String> = m.receivers.iter().take(6).map(|(id, _)| id.to_string()).collect();
                let more = if m.receivers.len() > 6 { format!(" +{}", m.receivers.len() - 6) } else { String::new() };
                let text = format!(
                    "s{:<4} {:>3} → {:<18} {}{}{}",
                    m.step,
                    m.sender,
                    if m.dropped { "-".to_owned() } else { format!("[{}{more}]", receivers.join(",")) },
                    m.intent,
                    m.text.as_ref().map(|t| format!("  \u{201c}{t}\u{201d}")).unwrap_or_default(),
                    if m.dropped { "  dropped" } else { "" }
                );
                let color =
                    if m.dropped { egui::Color32::from_rgb(220, 90, 80) } else { egui::Color32::from_gray(200) };
                ui.label(egui::RichText::new(text).monospace().size(11.0).color(color));
            }
        },
    );
}

fn legend(ui: &mut egui::Ui, sim: &SimParams, gui: &GuiParams) {
    ui.horizontal_wrapped(|ui| {
        for (i, team) in sim.active.scene.teams.iter().enumerate() {
            ui.colored_label(color32(team_color(i as u16)), "⏺");
            ui.label(format!("{} ({})", team.name, team.agents));
        }
        ui.separator();
        let mut kinds: Vec<ResourceKind> = sim.active.scene.resources.iter().map(|r| r.kind).collect();
        kinds.dedup();
        for k in kinds {
            ui.colored_label(bevy_color32(kind_color(k)), "■");
            ui.label(format!("{k:?}"));
        }
        ui.separator();
        ui.colored_label(egui::Color32::from_rgb(255, 215, 40), "—");
        ui.label("message");
        ui.colored_label(egui::Color32::from_rgb(220, 30, 30), "✖");
        ui.label("dropped");
        if gui.view.show_heat
            && let Some((lo, hi)) = gui.pools.as_ref().and_then(|p| p.heat_range)
        {
            ui.separator();
            ui.label(format!("value {lo:.2} (blue) … {hi:.2} (orange)"));
        }
        ui.separator();
        ui.weak("drag: pan · wheel: zoom · click: inspect · F: fit");
    });
}
