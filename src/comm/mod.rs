//! The communication language and channel: intents and their canonical text,
//! dialects, outboxes, the bandwidth-limited channel, and inboxes with ages.

mod intent;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

pub use intent::{Intent, IntentKind, ParseIntentError};

use crate::agent::{Agent, GridPos, Observation};
use crate::metrics::EpisodeStats;
use crate::scene::ResourceKind;
use crate::world::Episode;
use crate::{SimSet, SimStep};

/// Largest inbox capacity a scene may ask for.
pub const MAX_INBOX: usize = 8;

/// Adds the channel and the Speak and Deliver systems.
pub fn plugin(app: &mut App) {
    app.init_resource::<Channel>().init_resource::<MessageLog>().init_resource::<CommSettings>();
    app.add_systems(SimStep, speak_intents.in_set(SimSet::Speak));
    app.add_systems(SimStep, deliver_messages.in_set(SimSet::Deliver));
}

/// How agents talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum CommMode {
    /// Nobody talks; inboxes stay empty.
    Off,
    /// Intents travel as symbols.
    #[default]
    Symbolic,
}

/// A language variety agents speak (the language model renders intents in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Dialect {
    /// English.
    #[default]
    En,
    /// Chinese.
    Zh,
}

/// The message channel of a scene.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSettings {
    /// Messages reach agents within this many cells of the sender (Chebyshev).
    pub range: u32,
    /// Messages the channel carries per step; the rest are dropped and counted.
    pub bandwidth: u32,
    /// Steps a received message stays in an inbox before it expires.
    pub ttl: u32,
    /// Messages an inbox holds; a new one replaces the oldest.
    pub inbox: u32,
    /// Only agents of the sender's team receive.
    pub team_only: bool,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self { range: 10, bandwidth: 16, ttl: 8, inbox: 4, team_only: false }
    }
}

/// The live communication settings (scene values, CLI overrides, GUI edits).
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq)]
pub struct CommSettings {
    /// Off or symbolic.
    pub mode: CommMode,
    /// Range, bandwidth, lifetime.
    pub channel: ChannelSettings,
}

/// What an agent says this step (at most one intent).
#[derive(Component, Debug, Clone, Default)]
pub struct Outbox {
    /// The intent to send, taken by the channel in Deliver.
    pub intent: Option<Intent>,
}

/// One received message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Received {
    /// What it says.
    pub intent: Intent,
    /// Agent id of the sender.
    pub sender: u32,
    /// Steps since it arrived.
    pub age: u32,
}

/// Messages an agent has heard and not yet forgotten (fixed capacity, no
/// allocation).
#[derive(Component, Debug, Clone, Default)]
pub struct Inbox {
    slots: [Option<Received>; MAX_INBOX],
}

impl Inbox {
    /// The messages held, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Received> {
        self.slots.iter().flatten()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.slots = [None; MAX_INBOX];
    }

    /// Stores a message; the same intent refreshes its age, a full inbox
    /// (of `capacity` slots) forgets its oldest message.
    pub fn push(&mut self, intent: Intent, sender: u32, capacity: usize) {
        let capacity = capacity.clamp(1, MAX_INBOX);
        let slots = &mut self.slots[..capacity];
        if let Some(r) = slots.iter_mut().flatten().find(|r| r.intent == intent) {
            r.age = 0;
            r.sender = sender;
            return;
        }
        let fresh = Some(Received { intent, sender, age: 0 });
        if let Some(empty) = slots.iter_mut().find(|s| s.is_none()) {
            *empty = fresh;
            return;
        }
        let oldest = (0..capacity).max_by_key(|&i| slots[i].map_or(0, |r| r.age)).unwrap_or(0);
        slots[oldest] = fresh;
    }

    /// Ages every message by one step and forgets those older than `ttl`.
    pub fn age(&mut self, ttl: u32) {
        for slot in &mut self.slots {
            if let Some(r) = slot {
                r.age += 1;
                if r.age > ttl {
                    *slot = None;
                }
            }
        }
    }
}

/// Reusable buffers of the channel (no allocation per step once warm).
#[derive(Resource, Debug, Default)]
pub struct Channel {
    pending: Vec<(u32, u16, GridPos, Intent, Entity)>,
    listeners: Vec<(u32, u16, GridPos, Entity)>,
}

/// One logged message, for the GUI's message panel.
#[derive(Debug, Clone)]
pub struct LoggedMessage {
    /// Episode step it was sent in.
    pub step: u32,
    /// Sender agent id.
    pub sender: u32,
    /// Sender position.
    pub from: GridPos,
    /// Receiver agent ids and positions.
    pub receivers: Vec<(u32, GridPos)>,
    /// The intent sent.
    pub intent: Intent,
    /// Whether the channel dropped it (over bandwidth).
    pub dropped: bool,
}

/// The last messages sent, kept only while `enabled` (the GUI turns it on).
#[derive(Resource, Debug, Default)]
pub struct MessageLog {
    /// Record messages.
    pub enabled: bool,
    /// Most recent last; at most `capacity` entries.
    pub entries: std::collections::VecDeque<LoggedMessage>,
    /// How many entries to keep (0 means 300).
    pub capacity: usize,
}

impl MessageLog {
    fn record(&mut self, m: LoggedMessage) {
        let cap = if self.capacity == 0 { 300 } else { self.capacity };
        while self.entries.len() >= cap {
            self.entries.pop_front();
        }
        self.entries.push_back(m);
    }
}

/// Picks what an agent says from what it sees: a claim of the task site it
/// serves, a call for help at a heavy item it stands by, else the nearest
/// prey, else the nearest food.
pub fn choose_intent(agent: &Agent, obs: &Observation) -> Option<Intent> {
    let near = |v: &crate::agent::Visible| v.dx.abs() + v.dy.abs() <= 1;
    let visible = obs.visible();
    if let Some(site) = visible.iter().find(|v| v.kind == ResourceKind::Task && near(v) && v.served_by == Some(agent.id)) {
        return Some(Intent::new(IntentKind::Claim, site.x, site.y));
    }
    if let Some(heavy) = visible.iter().find(|v| v.kind == ResourceKind::Heavy && near(v)) {
        return Some(Intent::new(IntentKind::Help, heavy.x, heavy.y));
    }
    if let Some(prey) = visible.iter().find(|v| v.kind == ResourceKind::Prey) {
        return Some(Intent::new(IntentKind::Prey, prey.x, prey.y));
    }
    visible.iter().find(|v| v.kind == ResourceKind::Food).map(|f| Intent::new(IntentKind::Food, f.x, f.y))
}

/// Speak: each agent turns what it observed into at most one outgoing intent.
pub fn speak_intents(settings: Res<CommSettings>, mut agents: Query<(&Agent, &Observation, &mut Outbox)>) {
    let on = settings.mode != CommMode::Off;
    for (agent, obs, mut outbox) in &mut agents {
        outbox.intent = if on { choose_intent(agent, obs) } else { None };
    }
}

/// Deliver: ages inboxes, then carries at most `bandwidth` messages (a
/// rotating, deterministic choice among this step's senders) to every agent in
/// range; the rest are dropped and counted.
pub fn deliver_messages(
    settings: Res<CommSettings>,
    episode: Res<Episode>,
    order: Res<crate::world::AgentOrder>,
    mut channel: ResMut<Channel>,
    mut log: ResMut<MessageLog>,
    mut stats: ResMut<EpisodeStats>,
    mut outboxes: Query<(&Agent, &GridPos, &mut Outbox)>,
    mut inboxes: Query<&mut Inbox>,
) {
    let ch = settings.channel;
    for mut inbox in &mut inboxes {
        inbox.age(ch.ttl);
    }
    let Channel { pending, listeners } = &mut *channel;
    pending.clear();
    listeners.clear();
    for &e in &order.0 {
        if let Ok((agent, pos, mut outbox)) = outboxes.get_mut(e) {
            listeners.push((agent.id, agent.team, *pos, e));
            if let Some(intent) = outbox.intent.take() {
                pending.push((agent.id, agent.team, *pos, intent, e));
            }
        }
    }
    let n = pending.len();
    if n == 0 {
        return;
    }
    stats.messages_sent += n as u64;
    let kept = n.min(ch.bandwidth as usize);
    stats.messages_dropped += (n - kept) as u64;
    let start = episode.step as usize % n;
    let range = ch.range as i32;
    let capacity = ch.inbox as usize;
    for k in 0..n {
        let (sender, team, from, intent, _) = pending[(start + k) % n];
        let dropped = k >= kept;
        let mut receivers = Vec::new();
        if !dropped {
            for &(id, their_team, pos, e) in listeners.iter() {
                if id == sender || (ch.team_only && their_team != team) {
                    continue;
                }
                if (pos.x - from.x).abs().max((pos.y - from.y).abs()) > range {
                    continue;
                }
                if let Ok(mut inbox) = inboxes.get_mut(e) {
                    inbox.push(intent, sender, capacity);
                    stats.messages_delivered += 1;
                    if log.enabled {
                        receivers.push((id, pos));
                    }
                }
            }
        }
        if log.enabled {
            log.record(LoggedMessage { step: episode.step, sender, from, receivers, intent, dropped });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_dedups_ages_and_forgets() {
        let mut inbox = Inbox::default();
        let a = Intent::new(IntentKind::Food, 1, 2);
        let b = Intent::new(IntentKind::Help, 3, 4);
        let c = Intent::new(IntentKind::Prey, 5, 6);
        inbox.push(a, 1, 2);
        inbox.age(5);
        inbox.push(b, 2, 2);
        inbox.push(a, 3, 2);
        assert_eq!(inbox.iter().count(), 2);
        assert_eq!(inbox.iter().find(|r| r.intent == a).map(|r| (r.age, r.sender)), Some((0, 3)));
        inbox.age(5);
        inbox.age(5);
        // Full: the oldest (b, age 3) goes.
        inbox.push(c, 4, 2);
        assert!(inbox.iter().all(|r| r.intent != b));
        for _ in 0..6 {
            inbox.age(5);
        }
        assert_eq!(inbox.iter().count(), 0);
    }
}
