//! The one hyperparameter struct: scene defaults, CLI overrides and GUI edits
//! all read and write these same fields.

use serde::{Deserialize, Serialize};

/// What the CLI, the scene validator and the GUI know about one field.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    /// Field name as written in a scene file (and, kebab-cased, on the CLI).
    pub name: &'static str,
    /// What the field does and its unit.
    pub doc: &'static str,
    /// Smallest accepted value.
    pub min: f32,
    /// Largest accepted value.
    pub max: f32,
}

macro_rules! hyperparameters {
    ($( $(#[doc = $doc:literal])+ $field:ident = $default:expr, $lo:expr => $hi:expr; )*) => {
        /// Learning and reward hyperparameters of a run.
        ///
        /// Defaults come from the scene file (`hyperparameters: (..)`), the CLI
        /// overrides them (`--alpha 0.2`), the GUI edits them live, and every
        /// run logs them (summary.json and the policy's metadata).
        #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, bevy::prelude::Resource)]
        #[serde(default, deny_unknown_fields)]
        pub struct Hyperparameters {
            $( $(#[doc = $doc])+ pub $field: f32, )*
        }

        impl Default for Hyperparameters {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl Hyperparameters {
            /// Name, documentation and accepted range of every field, in order.
            pub const FIELDS: &'static [FieldInfo] = &[
                $( FieldInfo { name: stringify!($field), doc: concat!($($doc),+), min: $lo, max: $hi }, )*
            ];

            /// Every field with its description, for editors (the GUI).
            pub fn fields_mut(&mut self) -> Vec<(&'static FieldInfo, &mut f32)> {
                let mut refs: Vec<&mut f32> = vec![$( &mut self.$field, )*];
                let mut out = Vec::with_capacity(refs.len());
                for (info, r) in Self::FIELDS.iter().zip(refs.drain(..)) {
                    out.push((info, r));
                }
                out
            }

            /// Every field's value, in [`Self::FIELDS`] order.
            pub fn values(&self) -> Vec<f32> {
                vec![$( self.$field, )*]
            }
        }

        /// Command-line overrides of [`Hyperparameters`]: every field as an
        /// optional `--flag`.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct HyperOverrides {
            $( $(#[doc = $doc])+ #[arg(long, allow_negative_numbers = true)] pub $field: Option<f32>, )*
        }

        impl HyperOverrides {
            /// Writes the given overrides into `to`.
            pub fn apply(&self, to: &mut Hyperparameters) {
                $( if let Some(v) = self.$field { to.$field = v; } )*
            }
        }
    };
}

hyperparameters! {
    /// Learning rate alpha of the Q update (0..1].
    alpha = 0.1, 0.0001 => 1.0;
    /// Discount factor gamma per step [0..1].
    gamma = 0.95, 0.0 => 1.0;
    /// Exploration rate epsilon at episode 0 [0..1].
    epsilon_start = 1.0, 0.0 => 1.0;
    /// Floor that epsilon decays to [0..1].
    epsilon_min = 0.05, 0.0 => 1.0;
    /// Multiplicative epsilon decay per episode: eps = max(min, start * decay^episode).
    epsilon_decay = 0.995, 0.0001 => 1.0;
    /// Reward per agent per step (a time cost; usually negative).
    reward_step = -0.01, -100.0 => 100.0;
    /// Reward for trying to move into a wall, the border or another body.
    reward_bump = -0.02, -100.0 => 100.0;
    /// Reward for a step without moving or doing anything useful (standing by
    /// an item that needs company, or serving a site, is useful).
    reward_idle = -0.02, -100.0 => 100.0;
    /// Reward for eating one food item (the agent on its cell).
    reward_food = 1.0, -100.0 => 100.0;
    /// Reward to each agent taking part in lifting a heavy item.
    reward_lift = 3.0, -100.0 => 100.0;
    /// Reward to each predator taking part in a capture.
    reward_capture = 3.0, -100.0 => 100.0;
    /// Reward per step to the one worker serving a task site.
    reward_task_work = 0.1, -100.0 => 100.0;
    /// Reward to the worker who completes a task site.
    reward_task_done = 1.0, -100.0 => 100.0;
    /// Reward per step to every extra agent crowding a site someone already serves.
    reward_crowding = -0.05, -100.0 => 100.0;
}

impl Hyperparameters {
    /// Epsilon for a given episode index: `max(min, start * decay^episode)`.
    pub fn epsilon_at(&self, episode: u64) -> f32 {
        let decayed = self.epsilon_start as f64 * (self.epsilon_decay as f64).powf(episode as f64);
        (decayed as f32).max(self.epsilon_min).min(self.epsilon_start.max(self.epsilon_min))
    }

    /// The first field outside its documented range, with a sentence saying why.
    pub fn out_of_range(&self) -> Option<(&'static str, String)> {
        for (info, v) in Self::FIELDS.iter().zip(self.values()) {
            if !v.is_finite() || v < info.min || v > info.max {
                return Some((
                    info.name,
                    format!("`{}` is {v}, but must be between {} and {} ({})", info.name, info.min, info.max, info.doc),
                ));
            }
        }
        if self.epsilon_min > self.epsilon_start {
            return Some((
                "epsilon_min",
                format!("`epsilon_min` ({}) is larger than `epsilon_start` ({})", self.epsilon_min, self.epsilon_start),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsilon_decays_to_its_floor() {
        let h = Hyperparameters { epsilon_start: 1.0, epsilon_min: 0.1, epsilon_decay: 0.5, ..Default::default() };
        assert_eq!(h.epsilon_at(0), 1.0);
        assert_eq!(h.epsilon_at(1), 0.5);
        assert_eq!(h.epsilon_at(2), 0.25);
        assert_eq!(h.epsilon_at(10), 0.1);
    }

    #[test]
    fn overrides_replace_only_given_fields() {
        let mut h = Hyperparameters::default();
        let o = HyperOverrides { alpha: Some(0.5), reward_food: Some(2.0), ..Default::default() };
        o.apply(&mut h);
        assert_eq!(h.alpha, 0.5);
        assert_eq!(h.reward_food, 2.0);
        assert_eq!(h.gamma, Hyperparameters::default().gamma);
    }

    #[test]
    fn range_check_names_the_field() {
        let h = Hyperparameters { gamma: 1.5, ..Default::default() };
        assert_eq!(h.out_of_range().map(|(f, _)| f), Some("gamma"));
        assert!(Hyperparameters::default().out_of_range().is_none());
    }
}
