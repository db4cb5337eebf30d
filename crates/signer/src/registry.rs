//! Which session ids were used, and the results of finished sessions.
//!
//! Every session id is recorded when its session starts. A retry of a finished session with
//! the same parameters gets the cached result; any other reuse is refused. Memory is bounded:
//! results are kept for the newest `result_capacity` sessions and ids (as SHA-256) for the
//! newest `id_capacity`; an id older than that window could be used again.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest, Sha256};
use sigil_proto::signer::v1::SignResult;

type IdHash = [u8; 32];

enum State {
    Running {
        fingerprint: [u8; 32],
    },
    Done {
        fingerprint: [u8; 32],
        result: Option<Box<SignResult>>,
    },
    Failed,
}

/// What to do with a new Start.
pub(crate) enum Begin {
    /// Run it.
    New,
    /// A retry of a finished session: answer with this.
    Cached(Box<SignResult>),
    /// The id was used before; the reason says how.
    Refused(&'static str),
}

pub(crate) struct Registry {
    states: HashMap<IdHash, State>,
    order: VecDeque<IdHash>,
    results: VecDeque<IdHash>,
    id_capacity: usize,
    result_capacity: usize,
}

fn hash(id: &str) -> IdHash {
    Sha256::digest(id.as_bytes()).into()
}

impl Registry {
    pub(crate) fn new(id_capacity: usize, result_capacity: usize) -> Self {
        Self {
            states: HashMap::new(),
            order: VecDeque::new(),
            results: VecDeque::new(),
            id_capacity: id_capacity.max(1),
            result_capacity,
        }
    }

    /// Records the start of `id` whose parameters hash to `fingerprint`.
    pub(crate) fn begin(&mut self, id: &str, fingerprint: [u8; 32]) -> Begin {
        let h = hash(id);
        match self.states.get(&h) {
            None => {}
            Some(State::Done {
                fingerprint: f,
                result: Some(r),
            }) if *f == fingerprint => {
                return Begin::Cached(r.clone());
            }
            Some(State::Done {
                fingerprint: f,
                result: None,
            }) if *f == fingerprint => {
                return Begin::Refused(
                    "session finished earlier and its result is no longer cached",
                );
            }
            Some(State::Running { fingerprint: f }) if *f == fingerprint => {
                return Begin::Refused("session is still running");
            }
            Some(State::Failed) => {
                return Begin::Refused(
                    "session id was used by a session that failed; use a fresh id",
                );
            }
            Some(_) => return Begin::Refused("session id was already used with other parameters"),
        }
        while self.order.len() >= self.id_capacity {
            if let Some(old) = self.order.pop_front() {
                self.states.remove(&old);
            }
        }
        self.states.insert(h, State::Running { fingerprint });
        self.order.push_back(h);
        Begin::New
    }

    /// Forgets a session that never ran (e.g. refused for capacity), so its id stays usable.
    pub(crate) fn abandon(&mut self, id: &str) {
        let h = hash(id);
        if matches!(self.states.get(&h), Some(State::Running { .. })) {
            self.states.remove(&h);
            self.order.retain(|x| *x != h);
        }
    }

    /// Records how a session ended.
    pub(crate) fn finish(&mut self, id: &str, result: Option<&SignResult>) {
        let h = hash(id);
        let Some(state) = self.states.get_mut(&h) else {
            return;
        };
        let State::Running { fingerprint } = *state else {
            return;
        };
        match result {
            Some(r) if self.result_capacity > 0 => {
                *state = State::Done {
                    fingerprint,
                    result: Some(Box::new(r.clone())),
                };
                self.results.push_back(h);
                while self.results.len() > self.result_capacity {
                    if let Some(old) = self.results.pop_front()
                        && let Some(State::Done { result, .. }) = self.states.get_mut(&old)
                    {
                        *result = None;
                    }
                }
            }
            Some(_) => {
                *state = State::Done {
                    fingerprint,
                    result: None,
                }
            }
            None => *state = State::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str) -> SignResult {
        SignResult {
            session_id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn ids_are_single_use_and_finished_results_are_replayed() {
        let mut r = Registry::new(100, 10);
        assert!(matches!(r.begin("a", [1; 32]), Begin::New));
        assert!(
            matches!(r.begin("a", [1; 32]), Begin::Refused(_)),
            "running"
        );
        r.finish("a", Some(&result("a")));
        assert!(matches!(r.begin("a", [1; 32]), Begin::Cached(x) if x.session_id == "a"));
        assert!(
            matches!(r.begin("a", [2; 32]), Begin::Refused(_)),
            "other parameters"
        );
        assert!(matches!(r.begin("b", [1; 32]), Begin::New));
        r.finish("b", None);
        assert!(
            matches!(r.begin("b", [1; 32]), Begin::Refused(_)),
            "failed ids stay burned"
        );
        assert!(matches!(r.begin("c", [1; 32]), Begin::New));
        r.abandon("c");
        assert!(
            matches!(r.begin("c", [1; 32]), Begin::New),
            "abandoned ids are reusable"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = Registry::new(3, 1);
        for id in ["a", "b", "c"] {
            assert!(matches!(r.begin(id, [0; 32]), Begin::New));
            r.finish(id, Some(&result(id)));
        }
        assert!(
            matches!(r.begin("b", [0; 32]), Begin::Refused(_)),
            "result evicted, id kept"
        );
        assert!(matches!(r.begin("c", [0; 32]), Begin::Cached(_)));
        assert!(matches!(r.begin("d", [0; 32]), Begin::New));
        assert_eq!(r.states.len(), 3);
        assert!(
            matches!(r.begin("a", [0; 32]), Begin::New),
            "oldest id left the window"
        );
    }
}
