//! Fault injection: one chosen transaction (the *victim*) has its commit go wrong in a chosen
//! way, and optionally nobody can settle it until the test heals the cluster.
//!
//! The victim is the first transaction whose prewrite carries a key containing the fault's
//! needle (tests put a distinctive object key in it). Its *commit point* is the request that
//! decides it: the prewrite itself when it asks for one-phase commit, else the commit of its
//! primary key. tikv-client resends a request whose answer was lost (a few times, backing off),
//! so a fault holds for every resend: the client gives up and reports the commit failed, and
//! the gateway has to settle it.

use crate::proto::kvrpcpb::{CommitRequest, PrewriteRequest};

/// What happens to the victim's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFault {
    /// The commit is applied, then its answer is lost (the stream is reset); so are the answers
    /// to every resend (each applied again, idempotently, as TiKV would).
    LoseReply,
    /// The commit is lost before it is applied, and so is every resend: the primary never
    /// commits.
    LoseRequest,
    /// Earlier: the prewrite that carries the primary key is lost unapplied, every resend,
    /// while prewrites of the transaction's other regions succeed. The primary never holds a
    /// lock or a record of the transaction; its secondaries are locked.
    LosePrimaryPrewrite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The victim is the first transaction that prewrites a key containing these bytes.
    pub needle: Vec<u8>,
    pub commit: CommitFault,
    /// From the victim's prewrite until [`crate::FakeTikv::heal`], every request that would
    /// settle it (checking its status, resolving or rolling back its locks) is lost unapplied:
    /// its outcome cannot be learnt or changed.
    pub block_resolution: bool,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Serve,
    /// Apply it, then lose the answer.
    ApplyThenDrop,
    /// Lose it unapplied.
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Victim {
    start_ts: u64,
    primary: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Faults {
    armed: Option<Fault>,
    victim: Option<Victim>,
    blocked: bool,
    /// Requests lost so far, by method.
    lost: Vec<&'static str>,
}

impl Faults {
    pub fn inject(&mut self, fault: Fault) {
        *self = Faults {
            armed: Some(fault),
            ..Faults::default()
        };
    }

    pub fn heal(&mut self) {
        self.blocked = false;
    }

    pub fn victim(&self) -> Option<u64> {
        self.victim.as_ref().map(|v| v.start_ts)
    }

    pub fn lost(&self) -> Vec<&'static str> {
        self.lost.clone()
    }

    /// `one_pc`: whether this prewrite commits (the transaction asked for it and the cluster
    /// grants it).
    pub fn on_prewrite(&mut self, req: &PrewriteRequest, one_pc: bool) -> Verdict {
        if self.victim.is_none()
            && let Some(fault) = &self.armed
            && req.mutations.iter().any(|m| contains(&m.key, &fault.needle))
        {
            self.victim = Some(Victim {
                start_ts: req.start_version,
                primary: req.primary_lock.clone(),
            });
            self.blocked = fault.block_resolution;
        }
        if !self.is_victim(req.start_version) {
            return Verdict::Serve;
        }
        let lose_primary = self
            .armed
            .as_ref()
            .is_some_and(|f| f.commit == CommitFault::LosePrimaryPrewrite);
        if lose_primary && req.mutations.iter().any(|m| m.key == req.primary_lock) {
            self.lost.push("KvPrewrite");
            Verdict::Drop
        } else if one_pc {
            self.at_commit_point("KvPrewrite")
        } else {
            Verdict::Serve
        }
    }

    pub fn on_commit(&mut self, req: &CommitRequest) -> Verdict {
        match &self.victim {
            Some(v) if v.start_ts == req.start_version && req.keys.contains(&v.primary) => {
                self.at_commit_point("KvCommit")
            }
            _ => Verdict::Serve,
        }
    }

    /// For a request that would settle the transaction `start_ts` (`method` names it).
    pub fn on_settle(&mut self, method: &'static str, start_ts: u64) -> Verdict {
        if self.blocked && self.is_victim(start_ts) {
            self.lost.push(method);
            Verdict::Drop
        } else {
            Verdict::Serve
        }
    }

    fn at_commit_point(&mut self, method: &'static str) -> Verdict {
        let verdict = match self.armed.as_ref().map(|f| f.commit) {
            Some(CommitFault::LoseReply) => Verdict::ApplyThenDrop,
            Some(CommitFault::LoseRequest) => Verdict::Drop,
            // The fault struck earlier, at the primary's prewrite.
            Some(CommitFault::LosePrimaryPrewrite) | None => return Verdict::Serve,
        };
        self.lost.push(method);
        verdict
    }

    fn is_victim(&self, start_ts: u64) -> bool {
        self.victim.as_ref().is_some_and(|v| v.start_ts == start_ts)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}
