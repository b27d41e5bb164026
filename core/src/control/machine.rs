//! [`Control`] itself (the design is in the [module docs](crate::control)).

use std::collections::{BTreeMap, VecDeque};

use super::accepted::{AcceptedLeafs, Admission};
use super::reload::restart_required;
use super::{Input, Output, Reason};
use crate::backbone::{
    Backbone, BackboneInput, BackboneOutput, BackboneStats, Health, LinkId, ReplayBuffer,
};
use crate::bugs::{BugSet, BugSwitch};
use crate::config::Config;
use crate::remote::{
    LinkEnd, LinkState, RemoteIndex, RemoteInput, RemoteOutput, RemoteStatus, Remotes,
};
use crate::time::Instant;

/// The lifecycle state machine of one server (see the [module docs](crate::control)).
#[derive(Debug)]
pub struct Control {
    config: Config,
    seed: u64,
    bugs: BugSet,
    remotes: Remotes,
    accepted: AcceptedLeafs,
    /// One machine per backbone remote ever configured, by remote.
    backbones: BTreeMap<RemoteIndex, BackboneSlot>,
    outputs: VecDeque<Output>,
}

/// A backbone remote's machine and what the composition needs to know about it.
#[derive(Debug)]
struct BackboneSlot {
    view: BackboneView,
    machine: Backbone,
    /// The registered link (its attempt generation), while one is up.
    link: Option<LinkId>,
}

/// A backbone remote as the shell sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackboneView {
    pub remote: RemoteIndex,
    /// Shown in events, JSON and monitoring: the remote's `name`, else its identity.
    pub name: String,
    /// The local account the remote is bound to.
    pub account: String,
    /// Where resync announcements are published.
    pub resync_subject: String,
    /// Removed or disabled by a reload: its machine is kept (a remote that comes back is a
    /// fresh generation, F1) but it holds nothing.
    pub retired: bool,
}

impl Control {
    /// The machine for `config` (already validated), started at `now`, drawing every random
    /// choice from `seed`. Enabled remotes dial at once: drain [`Control::poll_output`].
    pub fn new(config: &Config, seed: u64, now: Instant) -> Self {
        Control::with_bugs(config, seed, now, BugSet::NONE)
    }

    /// [`Control::new`] with historical bugs switched on (simulator and test builds only;
    /// without the `bug-switches` feature `bugs` is always empty).
    pub fn with_bugs(config: &Config, seed: u64, now: Instant, bugs: BugSet) -> Self {
        let remotes = Remotes::with_bugs(
            &config.leafnodes.remotes,
            config.leafnodes.reconnect,
            mix(seed, 0x7265_6d6f_7465),
            now,
            bugs,
        );
        let mut c = Control {
            config: config.clone(),
            seed,
            bugs,
            remotes,
            accepted: AcceptedLeafs::default(),
            backbones: BTreeMap::new(),
            outputs: VecDeque::new(),
        };
        c.sync_backbones(now);
        c.pump(now);
        c
    }

    /// Feed what happened. Then drain [`Control::poll_output`].
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Reload(config) => self.reload(now, *config),
            Input::Remote(input) => {
                self.backbone_sees(now, &input);
                self.remotes.handle_input(now, input);
            }
            Input::LeafReady { cid, key } => {
                let refuse = self.bugs.has(BugSwitch::LeafHubRefusesDuplicate);
                match self.accepted.ready(cid, key, refuse) {
                    Admission::Register { replaces } => {
                        if let Some(old) = replaces {
                            self.outputs.push_back(Output::CloseLeaf {
                                cid: old,
                                reason: crate::event::CloseReason::Replaced,
                            });
                        }
                        self.outputs.push_back(Output::RegisterLeaf { cid });
                    }
                    Admission::Refuse { reason } => {
                        self.outputs.push_back(Output::CloseLeaf { cid, reason });
                    }
                }
            }
            Input::LeafClosed { cid } => self.accepted.closed(cid),
            Input::BackboneLinkLost {
                remote,
                link,
                silent,
            } => self.backbone_input(now, remote, BackboneInput::LinkDown { link, silent }),
            Input::BackboneHeard { remote, link, at } => {
                self.backbone_input(now, remote, BackboneInput::Heard { link, at })
            }
            Input::BackboneOffer { remote, msg } => {
                if let Some(slot) = self.backbones.get_mut(&remote) {
                    // Handed back when not holding: the caller checked `holds` under the
                    // same borrow, so this only happens to a misbehaving caller.
                    let _ = slot.machine.offer(now, msg);
                }
            }
            Input::BackboneFlushed {
                remote,
                sent,
                rest,
                failed,
            } => self.backbone_input(now, remote, BackboneInput::Flushed { sent, rest, failed }),
        }
        self.pump(now);
    }

    /// Run every timer due at `now`. Spurious calls do nothing. Then drain
    /// [`Control::poll_output`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.remotes.handle_timeout(now);
        for slot in self.backbones.values_mut() {
            slot.machine.handle_timeout(now);
        }
        self.pump(now);
    }

    /// The next output, or `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest deadline and why; `None` when nothing is timed.
    pub fn poll_timeout(&self) -> Option<(Instant, Reason)> {
        let remote = self
            .remotes
            .poll_timeout()
            .map(|(at, t)| (at, Reason::Remote(t)));
        let backbones = self.backbones.iter().filter_map(|(remote, slot)| {
            slot.machine.poll_timeout().map(|(at, timer)| {
                (
                    at,
                    Reason::Backbone {
                        remote: *remote,
                        timer,
                    },
                )
            })
        });
        // Ties go to the first candidate: remotes, then backbones by index.
        remote
            .into_iter()
            .chain(backbones)
            .fold(None, |best: Option<(Instant, Reason)>, c| match best {
                Some(b) if b.0 <= c.0 => Some(b),
                _ => Some(c),
            })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every configured remote's status, in configuration order.
    pub fn remotes(&self) -> Vec<RemoteStatus> {
        self.remotes.status()
    }

    /// Whether `attempt` is its remote's current attempt.
    pub fn is_current(&self, attempt: crate::remote::AttemptId) -> bool {
        self.remotes.is_current(attempt)
    }

    /// Every backbone remote ever configured (retired ones included), by index.
    pub fn backbones(&self) -> impl Iterator<Item = &BackboneView> {
        self.backbones.values().map(|s| &s.view)
    }

    /// Whether the backbone remote `remote` is holding messages for its hub instead of
    /// sending them live (in a gap, or recovering from one).
    pub fn holds(&self, remote: RemoteIndex) -> bool {
        self.backbones
            .get(&remote)
            .is_some_and(|s| s.machine.is_buffering())
    }

    /// Health of every configured backbone remote that is not ok, in index order.
    pub fn unhealthy(&self) -> Vec<String> {
        self.backbones
            .values()
            .filter(|s| !s.view.retired)
            .filter_map(|s| match s.machine.health() {
                Health::Ok => None,
                Health::Unavailable { why } => Some(why.clone()),
            })
            .collect()
    }

    /// Counters of every configured backbone remote, by name.
    pub fn backbone_stats(&self) -> Vec<(String, BackboneStats)> {
        self.backbones
            .values()
            .filter(|s| !s.view.retired)
            .map(|s| (s.view.name.clone(), s.machine.stats()))
            .collect()
    }

    /// A backbone remote's buffer (read-only: monitoring and tests).
    pub fn backbone_buffer(&self, remote: RemoteIndex) -> Option<&ReplayBuffer> {
        self.backbones.get(&remote).map(|s| s.machine.buffer())
    }

    /// Whether some backbone remote gave up (the server must stop and exit non-zero).
    pub fn gave_up(&self) -> bool {
        self.backbones.values().any(|s| s.machine.gave_up())
    }

    fn reload(&mut self, now: Instant, config: Config) {
        if let Some(e) = restart_required(&self.config, &config) {
            self.outputs.push_back(Output::ReloadRefused {
                error: e.to_string(),
            });
            return;
        }
        match self.remotes.reload(now, &config.leafnodes.remotes) {
            Err(e) => self.outputs.push_back(Output::ReloadRefused {
                error: e.to_string(),
            }),
            Ok(summary) => {
                self.remotes.set_reconnect(config.leafnodes.reconnect);
                self.config = config;
                // The verdict goes first: the shell applies its own settings before it
                // performs the dials and closes the reload caused.
                self.outputs.push_back(Output::Reloaded(summary));
                self.sync_backbones(now);
            }
        }
    }

    /// A backbone machine per configured backbone remote: created when it first appears,
    /// reconfigured in place when it stays, retired when removed or disabled.
    fn sync_backbones(&mut self, now: Instant) {
        let status = self.remotes.status();
        let mut wanted = BTreeMap::new();
        for s in status.iter().filter(|s| s.backbone) {
            let cfg = self
                .config
                .leafnodes
                .remotes
                .iter()
                .find(|c| c.identity() == s.id)
                .and_then(|c| c.backbone.clone());
            if let Some(cfg) = cfg {
                wanted.insert(s.index, (s, cfg));
            }
        }
        for (index, slot) in &mut self.backbones {
            let active = wanted
                .get(index)
                .is_some_and(|(s, _)| s.state != LinkState::Disabled);
            if active {
                slot.view.retired = false;
            } else if !slot.view.retired {
                slot.view.retired = true;
                slot.machine.retire();
                slot.link = None;
            }
        }
        for (index, (s, cfg)) in wanted {
            if let Some(slot) = self.backbones.get_mut(&index) {
                slot.view.resync_subject = cfg.resync.subject.clone();
                slot.machine.set_config(cfg);
                continue;
            }
            let name = s.name.clone().unwrap_or_else(|| s.id.to_string());
            let seed = mix(self.seed, 0xbacb_0000 ^ u64::from(index.0));
            let view = BackboneView {
                remote: index,
                name: name.clone(),
                account: s.account.clone(),
                resync_subject: cfg.resync.subject.clone(),
                retired: s.state == LinkState::Disabled,
            };
            let machine = Backbone::with_bugs(name, cfg, seed, now, self.bugs);
            self.backbones.insert(
                index,
                BackboneSlot {
                    view,
                    machine,
                    link: None,
                },
            );
        }
    }

    /// What a report about a solicited attempt means to its backbone machine, if any.
    /// Reports about stale attempts count for nothing.
    fn backbone_sees(&mut self, now: Instant, input: &RemoteInput) {
        let attempt = input.attempt();
        if !self.remotes.is_current(attempt) {
            return;
        }
        let Some(slot) = self.backbones.get_mut(&attempt.remote()) else {
            return;
        };
        if slot.view.retired {
            return;
        }
        let link = attempt.generation();
        let registered = slot.link == Some(link);
        let fed = match input {
            RemoteInput::PongSeen { .. } if registered => Some(BackboneInput::Healthy { link }),
            RemoteInput::DialFailed { .. } => Some(BackboneInput::AttemptFailed),
            RemoteInput::LinkClosed { reason, .. } if registered => {
                slot.link = None;
                Some(BackboneInput::LinkDown {
                    link,
                    silent: *reason == LinkEnd::Stale,
                })
            }
            RemoteInput::LinkClosed { .. } => Some(BackboneInput::AttemptFailed),
            _ => None,
        };
        if let Some(i) = fed {
            slot.machine.handle_input(now, i);
        }
    }

    fn backbone_input(&mut self, now: Instant, remote: RemoteIndex, input: BackboneInput) {
        if let Some(slot) = self.backbones.get_mut(&remote) {
            slot.machine.handle_input(now, input);
        }
    }

    /// Move every part's outputs into ours, in order, acting on the ones that concern
    /// another part on the way.
    fn pump(&mut self, now: Instant) {
        while let Some(out) = self.remotes.poll_output() {
            let out = match out {
                RemoteOutput::Dial {
                    attempt,
                    url,
                    remote,
                    first_info_timeout,
                    config,
                } => Output::Dial {
                    attempt,
                    url,
                    remote,
                    first_info_timeout,
                    config,
                },
                RemoteOutput::Register { attempt } => {
                    let backbone = self.register_backbone(now, attempt);
                    Output::Register { attempt, backbone }
                }
                RemoteOutput::Close { attempt, reason } => Output::Close { attempt, reason },
                RemoteOutput::Event(e) => Output::Event(e),
            };
            self.outputs.push_back(out);
        }
        for (remote, slot) in &mut self.backbones {
            while let Some(out) = slot.machine.poll_output() {
                self.outputs.push_back(match out {
                    BackboneOutput::Event(e) => Output::Event(e),
                    output => Output::Backbone {
                        remote: *remote,
                        output,
                    },
                });
            }
        }
    }

    /// `attempt` is being registered: if it is its backbone remote's current attempt, its
    /// session starts now. Returns whether it is a backbone session.
    fn register_backbone(&mut self, now: Instant, attempt: crate::remote::AttemptId) -> bool {
        if !self.remotes.is_current(attempt) {
            return false;
        }
        let Some(slot) = self.backbones.get_mut(&attempt.remote()) else {
            return false;
        };
        if slot.view.retired {
            return false;
        }
        let Some(s) = self
            .remotes
            .status()
            .into_iter()
            .find(|s| s.index == attempt.remote())
        else {
            return false;
        };
        let link = attempt.generation();
        slot.link = Some(link);
        slot.machine.handle_input(
            now,
            BackboneInput::LinkUp {
                link,
                remote_generation: s.remote_generation,
                session: s.sessions_in_generation,
            },
        );
        slot.machine
            .handle_input(now, BackboneInput::Heard { link, at: now });
        true
    }
}

/// Derive an independent seed for a part (splitmix64 of the pair).
fn mix(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49eb_133d_11eb);
    z ^ (z >> 31)
}
