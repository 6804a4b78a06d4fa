//! The communication language and channel: intents and their canonical text,
//! dialects, outboxes, the bandwidth-limited channel, and inboxes with ages.

mod intent;
mod language;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};

pub use intent::{Intent, IntentKind, ParseIntentError};
pub use language::{Language, LanguageModel, add_channel_noise};

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
    app.add_systems(SimStep, (speak_intents, render_utterances).chain().in_set(SimSet::Speak));
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
    /// Intents travel as text: the language model says them in the
    /// sender's dialect and receivers read (and translate) them back.
    Llm,
}

/// What happens to a message in a dialect the receiver does not speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
pub enum Foreign {
    /// Everyone understands every dialect.
    #[default]
    Understood,
    /// Receivers only understand their own dialect: foreign messages are lost.
    Dropped,
    /// Foreign messages are translated into the receiver's dialect first.
    Translated,
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
    /// Messages in a dialect the receiver does not speak.
    pub foreign: Foreign,
    /// Chance that an utterance loses or swaps one character in transit
    /// (`Llm` mode only; the model is trained to read through it).
    pub noise: f32,
}

impl Default for ChannelSettings {
    fn default() -> Self {
        Self { range: 10, bandwidth: 16, ttl: 8, inbox: 4, team_only: false, foreign: Foreign::Understood, noise: 0.0 }
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
    /// Its utterance in the speaker's dialect (`Llm` mode).
    pub text: Option<String>,
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
    pending: Vec<Pending>,
    listeners: Vec<(u32, u16, Dialect, GridPos, Entity)>,
    reads: Vec<(usize, Dialect)>,
    texts: Vec<String>,
    translated: Vec<Option<String>>,
    understood: Vec<Option<Intent>>,
}

#[derive(Debug, Clone)]
struct Pending {
    sender: u32,
    team: u16,
    dialect: Dialect,
    from: GridPos,
    intent: Intent,
    text: Option<String>,
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
    /// The utterance (`Llm` mode).
    pub text: Option<String>,
    /// What receivers understood, per receiver (`Llm` mode; `None`: did not parse).
    pub understood: Vec<Option<Intent>>,
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
    if let Some(site) =
        visible.iter().find(|v| v.kind == ResourceKind::Task && near(v) && v.served_by == Some(agent.id))
    {
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
        outbox.text = None;
    }
}

/// Speak (`Llm` mode): the language model says every outgoing intent in its
/// speaker's dialect, batched over the frame. An intent the model cannot
/// say is not sent and counts as invalid.
pub fn render_utterances(
    settings: Res<CommSettings>,
    order: Res<crate::world::AgentOrder>,
    model: Option<ResMut<LanguageModel>>,
    mut stats: ResMut<EpisodeStats>,
    mut outboxes: Query<(&Agent, &mut Outbox)>,
    mut batch: Local<Vec<(Intent, Dialect)>>,
    mut said: Local<Vec<Option<String>>>,
) {
    if settings.mode != CommMode::Llm {
        return;
    }
    batch.clear();
    for &e in &order.0 {
        if let Ok((agent, outbox)) = outboxes.get(e)
            && let Some(intent) = outbox.intent
        {
            batch.push((intent, agent.dialect));
        }
    }
    if batch.is_empty() {
        return;
    }
    said.clear();
    match model {
        Some(mut m) => m.0.say(&batch, &mut said),
        None => said.resize(batch.len(), None),
    }
    let mut k = 0;
    for &e in &order.0 {
        if let Ok((_, mut outbox)) = outboxes.get_mut(e)
            && outbox.intent.is_some()
        {
            match said.get(k).cloned().flatten() {
                Some(text) => outbox.text = Some(text),
                None => {
                    outbox.intent = None;
                    stats.messages_invalid += 1;
                }
            }
            k += 1;
        }
    }
}

/// Deliver: ages inboxes, then carries at most `bandwidth` messages (a
/// rotating, deterministic choice among this step's senders) to every agent in
/// range; the rest are dropped and counted. In `Llm` mode each receiver gets
/// what the model reads from the utterance (translated first when the scene
/// says so); what does not parse is counted invalid and not stored.
pub fn deliver_messages(
    settings: Res<CommSettings>,
    episode: Res<Episode>,
    order: Res<crate::world::AgentOrder>,
    mut channel: ResMut<Channel>,
    mut log: ResMut<MessageLog>,
    mut stats: ResMut<EpisodeStats>,
    mut model: Option<ResMut<LanguageModel>>,
    mut rng: ResMut<crate::world::SimRng>,
    mut outboxes: Query<(&Agent, &GridPos, &mut Outbox)>,
    mut inboxes: Query<&mut Inbox>,
) {
    let ch = settings.channel;
    for mut inbox in &mut inboxes {
        inbox.age(ch.ttl);
    }
    let llm = settings.mode == CommMode::Llm;
    let Channel { pending, listeners, reads, texts, translated, understood } = &mut *channel;
    pending.clear();
    listeners.clear();
    for &e in &order.0 {
        if let Ok((agent, pos, mut outbox)) = outboxes.get_mut(e) {
            listeners.push((agent.id, agent.team, agent.dialect, *pos, e));
            if let Some(intent) = outbox.intent.take() {
                let text = outbox.text.take();
                pending.push(Pending {
                    sender: agent.id,
                    team: agent.team,
                    dialect: agent.dialect,
                    from: *pos,
                    intent,
                    text,
                });
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
    let in_range = |p: &Pending, id: u32, team: u16, pos: GridPos| {
        id != p.sender
            && !(ch.team_only && team != p.team)
            && (pos.x - p.from.x).abs().max((pos.y - p.from.y).abs()) <= range
    };

    // Llm mode: one reading per (message, receiver dialect), batched.
    reads.clear();
    understood.clear();
    if llm {
        for k in 0..kept {
            let p = &pending[(start + k) % n];
            for d in [Dialect::En, Dialect::Zh] {
                let wanted =
                    listeners.iter().any(|&(id, team, dialect, pos, _)| dialect == d && in_range(p, id, team, pos));
                let allowed = d == p.dialect || ch.foreign != Foreign::Dropped;
                if wanted && allowed && p.text.is_some() {
                    reads.push(((start + k) % n, d));
                }
            }
        }
        texts.clear();
        for &(m, _) in reads.iter() {
            let mut t = pending[m].text.clone().unwrap_or_default();
            if ch.noise > 0.0 {
                add_channel_noise(&mut t, ch.noise, &mut rng.0);
            }
            texts.push(t);
        }
        // Translate foreign messages where the scene asks for it.
        translated.clear();
        if ch.foreign == Foreign::Translated {
            let jobs: Vec<(usize, Dialect)> = reads
                .iter()
                .enumerate()
                .filter(|(_, (m, d))| *d != pending[*m].dialect)
                .map(|(i, (_, d))| (i, *d))
                .collect();
            if !jobs.is_empty() {
                let items: Vec<(&str, Dialect)> = jobs.iter().map(|&(i, d)| (texts[i].as_str(), d)).collect();
                let mut out = Vec::new();
                match model.as_deref_mut() {
                    Some(m) => m.0.translate(&items, &mut out),
                    None => out.resize(items.len(), None),
                }
                stats.messages_translated += jobs.len() as u64;
                for (&(i, _), t) in jobs.iter().zip(out) {
                    match t {
                        Some(t) => texts[i] = t,
                        None => texts[i].clear(),
                    }
                }
            }
        }
        let items: Vec<&str> = texts.iter().map(String::as_str).collect();
        match model.as_deref_mut() {
            Some(m) => m.0.read(&items, understood),
            None => understood.resize(items.len(), None),
        }
    }

    for k in 0..n {
        let m = (start + k) % n;
        let p = &pending[m];
        let dropped = k >= kept;
        let mut receivers = Vec::new();
        let mut heard = Vec::new();
        if !dropped {
            for &(id, team, dialect, pos, e) in listeners.iter() {
                if !in_range(p, id, team, pos) {
                    continue;
                }
                let got = if llm {
                    match reads.iter().position(|&(rm, d)| rm == m && d == dialect) {
                        Some(r) => {
                            let got = understood.get(r).copied().flatten();
                            if got.is_none() {
                                stats.messages_invalid += 1;
                            }
                            got
                        }
                        None => None,
                    }
                } else if dialect != p.dialect && ch.foreign == Foreign::Dropped {
                    None
                } else {
                    Some(p.intent)
                };
                let Some(intent) = got else { continue };
                if let Ok(mut inbox) = inboxes.get_mut(e) {
                    inbox.push(intent, p.sender, capacity);
                    stats.messages_delivered += 1;
                    if log.enabled {
                        receivers.push((id, pos));
                        heard.push(Some(intent));
                    }
                }
            }
        }
        if log.enabled {
            log.record(LoggedMessage {
                step: episode.step,
                sender: p.sender,
                from: p.from,
                receivers,
                intent: p.intent,
                text: p.text.clone(),
                understood: heard,
                dropped,
            });
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
