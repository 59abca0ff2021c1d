//! The model lifecycle of one key, by name: which versions it keeps, which one serves, and the
//! canary, shadow and ensemble beside it ([`Lineup`]), and how each operation of the models
//! topic changes it ([`Lineup::apply`]).
//!
//! A lineup holds names only: the serving operator plans a key's lineup when an operation
//! arrives (so that it knows which models to build), and installs it with the built models once
//! its time has come. Operations that cannot apply (a rollback to a version the key does not
//! keep, a promotion without a canary, …) are refused with a reason and change nothing.

use std::sync::Arc;
use std::time::Duration;

use super::stable_hash;
use crate::proto::lifecycle::{Decider, Operation};
use crate::proto::ModelDescriptor;
use crate::record::Origin;

/// A candidate that serves a share of a key's records.
#[derive(Clone, Debug, PartialEq)]
pub struct Canary {
    /// The version.
    pub model: Arc<str>,
    /// The share of the key's records it scores, in percent.
    pub share: f64,
}

/// Several versions that score every record of a key, and how their answers become one.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    /// The versions, in order.
    pub members: Vec<Arc<str>>,
    /// How the answer is chosen.
    pub decider: Decider,
    /// For [`Decider::FirstWithin`]: the time each member has per record.
    pub budget: Duration,
}

/// What serves one key, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lineup {
    /// The versions kept ready, oldest first.
    pub versions: Vec<Arc<str>>,
    /// The version that serves.
    pub current: Option<Arc<str>>,
    /// Whether newly published models are staged instead of served.
    pub pinned: bool,
    /// The canary, if any.
    pub canary: Option<Canary>,
    /// The shadow, if any.
    pub shadow: Option<Arc<str>>,
    /// The ensemble, if any: it serves instead of the current version.
    pub ensemble: Option<Ensemble>,
}

/// The default number of versions a key keeps (besides those in use).
pub const VERSIONS_KEPT: usize = 5;

impl Lineup {
    /// Whether anything serves the key's records.
    pub fn serves(&self) -> bool {
        self.current.is_some() || self.ensemble.is_some()
    }

    /// Whether `name` is current, canary, shadow or an ensemble member.
    pub fn in_use(&self, name: &str) -> bool {
        self.current.as_deref() == Some(name)
            || self.canary.as_ref().is_some_and(|c| &*c.model == name)
            || self.shadow.as_deref() == Some(name)
            || self
                .ensemble
                .as_ref()
                .is_some_and(|e| e.members.iter().any(|m| &**m == name))
    }

    /// Whether the key keeps version `name`.
    pub fn keeps(&self, name: &str) -> bool {
        self.versions.iter().any(|version| &**version == name)
    }

    /// Applies one descriptor of the models topic. A descriptor that carries a model adds it
    /// as the newest version first; returns whether it did (its model must then be built).
    /// Keeps at most `keep` versions (more only while more are in use), dropping the oldest
    /// not in use.
    pub fn apply(&mut self, descriptor: &ModelDescriptor, keep: usize) -> Result<bool, String> {
        let mut next = self.clone();
        let adds = descriptor.carries_model();
        if adds {
            let name: Arc<str> = descriptor.name.as_str().into();
            next.versions.retain(|version| *version != name);
            next.versions.push(name);
        }
        next.operate(descriptor)?;
        next.evict(keep);
        *self = next;
        Ok(adds)
    }

    /// The operation itself, on a lineup that already holds the descriptor's model.
    fn operate(&mut self, descriptor: &ModelDescriptor) -> Result<(), String> {
        let default = Default::default();
        let lifecycle = descriptor.lifecycle.as_ref().unwrap_or(&default);
        let named = match lifecycle.model.as_str() {
            "" => descriptor.name.as_str(),
            name => name,
        };
        match descriptor.operation() {
            Operation::Serve if !descriptor.carries_model() => {
                Err("the descriptor carries neither model bytes nor a location".into())
            }
            Operation::Serve if self.pinned => Ok(()),
            Operation::Serve => self.make_current(self.kept(named)?),
            Operation::Stage => Ok(()),
            Operation::Rollback => {
                let target = match (lifecycle.model.is_empty(), descriptor.carries_model()) {
                    (true, false) => self.previous()?,
                    _ => self.kept(named)?,
                };
                self.make_current(target)
            }
            Operation::Pin => {
                self.pinned = true;
                Ok(())
            }
            Operation::Unpin => {
                self.pinned = false;
                Ok(())
            }
            Operation::Canary => self.start_canary(self.kept(named)?, lifecycle.share),
            Operation::Promote => {
                let canary = self
                    .canary
                    .take()
                    .ok_or("the key has no canary to promote")?;
                self.make_current(canary.model)
            }
            Operation::Abort => self
                .canary
                .take()
                .map(drop)
                .ok_or_else(|| "the key has no canary to abort".into()),
            Operation::Shadow => {
                self.shadow = Some(self.kept(named)?);
                Ok(())
            }
            Operation::Unshadow => self
                .shadow
                .take()
                .map(drop)
                .ok_or_else(|| "the key has no shadow".into()),
            Operation::Ensemble => self.form_ensemble(lifecycle),
            Operation::Disband => self
                .ensemble
                .take()
                .map(drop)
                .ok_or_else(|| "the key has no ensemble".into()),
        }
    }

    /// The kept version named `name`.
    fn kept(&self, name: &str) -> Result<Arc<str>, String> {
        self.versions
            .iter()
            .find(|version| &***version == name)
            .cloned()
            .ok_or_else(|| format!("the key keeps no version named `{name}`"))
    }

    /// The version kept before the current one.
    fn previous(&self) -> Result<Arc<str>, String> {
        let current = self
            .current
            .as_ref()
            .ok_or("the key has no current model")?;
        let at = self
            .versions
            .iter()
            .position(|version| version == current)
            .unwrap_or(0);
        at.checked_sub(1)
            .map(|before| self.versions[before].clone())
            .ok_or_else(|| format!("the key keeps no version before `{current}`"))
    }

    /// Makes `name` serve alone (an ensemble ends; a canary of it ends).
    fn make_current(&mut self, name: Arc<str>) -> Result<(), String> {
        if self.canary.as_ref().is_some_and(|c| c.model == name) {
            self.canary = None;
        }
        self.ensemble = None;
        self.current = Some(name);
        Ok(())
    }

    fn start_canary(&mut self, model: Arc<str>, share: f64) -> Result<(), String> {
        if !(share > 0.0 && share < 100.0) {
            return Err(format!(
                "a canary's share must be above 0 and below 100 %, not {share}"
            ));
        }
        if self.current.as_ref() == Some(&model) {
            return Err(format!("`{model}` already serves the key"));
        }
        self.canary = Some(Canary { model, share });
        Ok(())
    }

    fn form_ensemble(&mut self, lifecycle: &crate::proto::Lifecycle) -> Result<(), String> {
        if lifecycle.members.len() < 2 {
            return Err("an ensemble needs at least two members".into());
        }
        let members = lifecycle
            .members
            .iter()
            .map(|name| self.kept(name))
            .collect::<Result<Vec<_>, _>>()?;
        let decider = lifecycle.decider();
        if decider == Decider::FirstWithin && lifecycle.budget_ns <= 0 {
            return Err("a first-within ensemble needs a time budget above 0".into());
        }
        self.ensemble = Some(Ensemble {
            members,
            decider,
            budget: Duration::from_nanos(lifecycle.budget_ns.max(0) as u64),
        });
        Ok(())
    }

    /// Drops the oldest versions not in use until at most `keep` are left (or all are in use).
    fn evict(&mut self, keep: usize) {
        while self.versions.len() > keep {
            let Some(oldest) = self.versions.iter().position(|v| !self.in_use(v)) else {
                return;
            };
            self.versions.remove(oldest);
        }
    }

    /// The lineup without the versions `loaded` refuses (models that failed to build): what
    /// used them falls back: the current version to the first of `fallbacks` that loaded, else
    /// to the newest version that did; a canary, shadow or ensemble member is dropped.
    pub fn without_missing(
        mut self,
        loaded: impl Fn(&str) -> bool,
        fallbacks: &[Arc<str>],
    ) -> Self {
        self.versions.retain(|version| loaded(version));
        if self.current.as_deref().is_some_and(|name| !loaded(name)) {
            self.current = fallbacks
                .iter()
                .find(|name| loaded(name))
                .cloned()
                .or_else(|| self.versions.last().cloned());
            if let Some(current) = &self.current {
                if !self.keeps(current) {
                    self.versions.push(current.clone());
                }
            }
        }
        if self.canary.as_ref().is_some_and(|c| !loaded(&c.model)) {
            self.canary = None;
        }
        if self.shadow.as_deref().is_some_and(|name| !loaded(name)) {
            self.shadow = None;
        }
        if let Some(ensemble) = &mut self.ensemble {
            ensemble.members.retain(|member| loaded(member));
            if ensemble.members.is_empty() {
                self.ensemble = None;
            }
        }
        self
    }
}

/// Whether the canary of `share` percent scores the record read at `origin`: decided by the
/// record's Kafka position alone, so that a replayed record takes the same path, on any worker
/// and in any process.
pub fn canary_takes(origin: &Origin, share: f64) -> bool {
    let mut position = *b"canary\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    position[6..10].copy_from_slice(&origin.partition.to_le_bytes());
    position[10..18].copy_from_slice(&origin.offset.to_le_bytes());
    let draw = stable_hash(&position) % 1_000_000;
    (draw as f64) < share * 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::model_descriptor::MessageContent;
    use crate::proto::Lifecycle;

    fn model(name: &str) -> ModelDescriptor {
        ModelDescriptor {
            name: name.into(),
            message_content: Some(MessageContent::Data(vec![1])),
            ..ModelDescriptor::default()
        }
    }

    fn control(operation: Operation, model: &str) -> ModelDescriptor {
        let mut lifecycle = Lifecycle {
            model: model.into(),
            ..Lifecycle::default()
        };
        lifecycle.set_operation(operation);
        ModelDescriptor {
            lifecycle: Some(lifecycle),
            ..ModelDescriptor::default()
        }
    }

    fn names(versions: &[Arc<str>]) -> Vec<&str> {
        versions.iter().map(|v| &**v).collect()
    }

    fn lineup(steps: &[ModelDescriptor], keep: usize) -> Lineup {
        let mut lineup = Lineup::default();
        for step in steps {
            lineup.apply(step, keep).expect("applies");
        }
        lineup
    }

    #[test]
    fn plain_descriptors_serve_and_keep_the_last_versions() {
        let lineup = lineup(&[model("a"), model("b"), model("c"), model("d")], 3);
        assert_eq!(names(&lineup.versions), ["b", "c", "d"]);
        assert_eq!(lineup.current.as_deref(), Some("d"));
    }

    #[test]
    fn rollback_goes_to_the_version_before_or_the_one_named() {
        let mut lineup = lineup(&[model("a"), model("b"), model("c")], 5);
        lineup.apply(&control(Operation::Rollback, ""), 5).unwrap();
        assert_eq!(lineup.current.as_deref(), Some("b"));
        lineup.apply(&control(Operation::Rollback, "c"), 5).unwrap();
        assert_eq!(lineup.current.as_deref(), Some("c"));
        let refused = lineup.apply(&control(Operation::Rollback, "z"), 5);
        assert_eq!(refused, Err("the key keeps no version named `z`".into()));
        assert_eq!(lineup.current.as_deref(), Some("c"));
    }

    #[test]
    fn a_pinned_key_stages_what_is_published() {
        let mut lineup = lineup(&[model("a"), control(Operation::Pin, ""), model("b")], 5);
        assert_eq!(lineup.current.as_deref(), Some("a"));
        assert_eq!(names(&lineup.versions), ["a", "b"]);
        lineup.apply(&control(Operation::Unpin, ""), 5).unwrap();
        lineup.apply(&model("c"), 5).unwrap();
        assert_eq!(lineup.current.as_deref(), Some("c"));
    }

    #[test]
    fn versions_in_use_are_never_evicted() {
        let steps = [
            model("a"),
            control(Operation::Pin, ""),
            model("b"),
            model("c"),
            model("d"),
        ];
        let lineup = lineup(&steps, 2);
        assert_eq!(names(&lineup.versions), ["a", "d"]);
        assert_eq!(lineup.current.as_deref(), Some("a"));
    }

    #[test]
    fn a_canary_is_promoted_or_aborted() {
        let mut lineup = lineup(&[model("a"), with_op(model("b"), Operation::Stage)], 5);
        assert_eq!(
            (lineup.canary.as_ref(), lineup.current.as_deref()),
            (None, Some("a"))
        );
        let mut canary = control(Operation::Canary, "b");
        canary.lifecycle.as_mut().unwrap().share = 10.0;
        lineup.apply(&canary, 5).unwrap();
        assert_eq!(lineup.canary.as_ref().map(|c| c.share), Some(10.0));
        let mut aborted = lineup.clone();
        aborted.apply(&control(Operation::Abort, ""), 5).unwrap();
        assert_eq!(
            (aborted.canary, aborted.current.as_deref()),
            (None, Some("a"))
        );
        lineup.apply(&control(Operation::Promote, ""), 5).unwrap();
        assert_eq!(
            (lineup.canary, lineup.current.as_deref()),
            (None, Some("b"))
        );
    }

    fn with_op(mut descriptor: ModelDescriptor, operation: Operation) -> ModelDescriptor {
        let mut lifecycle = Lifecycle::default();
        lifecycle.set_operation(operation);
        descriptor.lifecycle = Some(lifecycle);
        descriptor
    }

    #[test]
    fn a_refused_operation_changes_nothing() {
        let mut lineup = lineup(&[model("a")], 5);
        let before = lineup.clone();
        assert!(lineup.apply(&control(Operation::Promote, ""), 5).is_err());
        let mut canary = with_op(model("b"), Operation::Canary);
        canary.lifecycle.as_mut().unwrap().share = 150.0;
        assert!(lineup.apply(&canary, 5).is_err());
        assert_eq!(lineup, before);
    }

    #[test]
    fn what_failed_to_load_falls_back() {
        let lineup = lineup(&[model("a"), model("b")], 5);
        let a: Arc<str> = "a".into();
        let fallen = lineup.without_missing(|name| name != "b", &[a]);
        assert_eq!(fallen.current.as_deref(), Some("a"));
        assert_eq!(names(&fallen.versions), ["a"]);
    }

    #[test]
    fn the_canary_takes_its_share_of_positions_and_always_the_same() {
        let takes = |offset| {
            canary_takes(
                &Origin {
                    partition: 1,
                    offset,
                },
                10.0,
            )
        };
        let taken = (0..100_000).filter(|&offset| takes(offset)).count();
        assert!((9_500..=10_500).contains(&taken), "{taken} of 100,000");
        assert!((0..1_000).all(|offset| takes(offset) == takes(offset)));
    }
}
