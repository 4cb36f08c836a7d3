//! The TiKV service (`tikvpb.Tikv`): the transactional commands tikv-client 0.4 sends for
//! optimistic transactions, on [`crate::mvcc`], with the faults of [`crate::faults`] applied
//! where a transaction commits or is settled. Anything else (raw KV, pessimistic locks, async
//! commit, GC's lock scan) is refused as unimplemented, so a client that starts using it fails
//! loudly instead of meeting a silently wrong fake.

use std::collections::BTreeMap;

use prost::Message;

use crate::cluster::{Cluster, lock};
use crate::faults::Verdict;
use crate::grpc::{INVALID_ARGUMENT, Reply, UNIMPLEMENTED};
use crate::mvcc::{self, KeyErr, LockKind, Prewritten, RolledNow, TxnStatus};
use crate::proto::kvrpcpb as pb;

pub const SERVICE: &str = "/tikvpb.Tikv/";

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, Reply> {
    M::decode(bytes).map_err(|e| Reply::Status(INVALID_ARGUMENT, e.to_string()))
}

pub fn unary(cluster: &Cluster, method: &str, bytes: &[u8]) -> Reply {
    match answer(cluster, method, bytes) {
        Ok(reply) => reply,
        Err(reply) => reply,
    }
}

/// Applies a request under `verdict`: `apply` changes the data and encodes the answer.
fn judged(verdict: Verdict, apply: impl FnOnce() -> Vec<u8>) -> Reply {
    match verdict {
        Verdict::Serve => Reply::Message(apply()),
        Verdict::ApplyThenDrop => {
            apply();
            Reply::Reset
        }
        Verdict::Drop => Reply::Reset,
    }
}

fn answer(cluster: &Cluster, method: &str, bytes: &[u8]) -> Result<Reply, Reply> {
    let data = &cluster.data;
    Ok(match method {
        "KvGet" => {
            let req: pb::GetRequest = decode(bytes)?;
            let mut resp = pb::GetResponse::default();
            match lock(data).get(&req.key, req.version) {
                Ok(Some(v)) => resp.value = v,
                Ok(None) => resp.not_found = true,
                Err(e) => resp.error = Some(key_error(e)),
            }
            Reply::Message(resp.encode_to_vec())
        }
        "KvBatchGet" => {
            let req: pb::BatchGetRequest = decode(bytes)?;
            let data = lock(data);
            let pairs = req
                .keys
                .into_iter()
                .filter_map(|key| match data.get(&key, req.version) {
                    Ok(Some(value)) => Some(pb::KvPair {
                        key,
                        value,
                        error: None,
                    }),
                    Ok(None) => None,
                    Err(e) => Some(pb::KvPair {
                        key,
                        value: Vec::new(),
                        error: Some(key_error(e)),
                    }),
                })
                .collect();
            Reply::Message(pb::BatchGetResponse { pairs }.encode_to_vec())
        }
        "KvScan" => {
            let req: pb::ScanRequest = decode(bytes)?;
            let (lower, upper) = if req.reverse {
                (&req.end_key, &req.start_key)
            } else {
                (&req.start_key, &req.end_key)
            };
            let found = lock(data).scan(lower, upper, req.limit as usize, req.version, req.reverse);
            let pairs = found
                .into_iter()
                .map(|(key, got)| match got {
                    Ok(value) => pb::KvPair {
                        key,
                        value: if req.key_only { Vec::new() } else { value },
                        error: None,
                    },
                    Err(e) => pb::KvPair {
                        key,
                        value: Vec::new(),
                        error: Some(key_error(e)),
                    },
                })
                .collect();
            Reply::Message(pb::ScanResponse { pairs }.encode_to_vec())
        }
        "KvPrewrite" => {
            let req: pb::PrewriteRequest = decode(bytes)?;
            if req.use_async_commit || req.for_update_ts != 0 {
                return Err(Reply::Status(
                    UNIMPLEMENTED,
                    "fake TiKV: async commit and pessimistic transactions are not modelled".into(),
                ));
            }
            let mutations = req
                .mutations
                .iter()
                .map(mutation)
                .collect::<Result<Vec<_>, _>>()?;
            let txn = mvcc::PrewriteTxn {
                primary: req.primary_lock.clone(),
                start_ts: req.start_version,
                ttl: req.lock_ttl,
                txn_size: req.txn_size,
                min_commit_ts: req.min_commit_ts,
            };
            let verdict = lock(&cluster.faults).on_prewrite(&req, req.try_one_pc && cluster.one_pc);
            judged(verdict, || {
                let mut next_ts = || cluster.timestamp();
                let one_pc =
                    (req.try_one_pc && cluster.one_pc).then_some(&mut next_ts as &mut dyn FnMut() -> u64);
                let mut resp = pb::PrewriteResponse::default();
                match lock(data).prewrite(&txn, &mutations, one_pc) {
                    Ok(Prewritten::Locked) => {}
                    Ok(Prewritten::OnePc(ts)) => resp.one_pc_commit_ts = ts,
                    // As TiKV answers a resent prewrite of a committed transaction.
                    Ok(Prewritten::AlreadyCommitted(ts)) if req.try_one_pc && cluster.one_pc => {
                        resp.one_pc_commit_ts = ts
                    }
                    Ok(Prewritten::AlreadyCommitted(_)) => {}
                    Err(errors) => resp.errors = errors.into_iter().map(key_error).collect(),
                }
                resp.encode_to_vec()
            })
        }
        "KvCommit" => {
            let req: pb::CommitRequest = decode(bytes)?;
            let verdict = lock(&cluster.faults).on_commit(&req);
            judged(verdict, || {
                let result = lock(data).commit(&req.keys, req.start_version, req.commit_version);
                pb::CommitResponse {
                    error: result.err().map(key_error),
                    commit_version: 0,
                }
                .encode_to_vec()
            })
        }
        "KvBatchRollback" => {
            let req: pb::BatchRollbackRequest = decode(bytes)?;
            let verdict = lock(&cluster.faults).on_settle("KvBatchRollback", req.start_version);
            judged(verdict, || {
                let result = lock(data).rollback(&req.keys, req.start_version);
                pb::BatchRollbackResponse {
                    error: result.err().map(key_error),
                }
                .encode_to_vec()
            })
        }
        "KvCheckTxnStatus" => {
            let req: pb::CheckTxnStatusRequest = decode(bytes)?;
            let verdict = lock(&cluster.faults).on_settle("KvCheckTxnStatus", req.lock_ts);
            judged(verdict, || {
                let status = lock(data).check_txn_status(
                    &req.primary_key,
                    req.lock_ts,
                    req.caller_start_ts,
                    req.current_ts,
                    req.rollback_if_not_exist,
                    req.verify_is_primary,
                );
                txn_status(&req.primary_key, status).encode_to_vec()
            })
        }
        "KvResolveLock" => {
            let req: pb::ResolveLockRequest = decode(bytes)?;
            let txns: BTreeMap<u64, u64> = if req.txn_infos.is_empty() {
                BTreeMap::from([(req.start_version, req.commit_version)])
            } else {
                req.txn_infos.iter().map(|t| (t.txn, t.status)).collect()
            };
            let region = req.context.as_ref().map_or(0, |c| c.region_id);
            let (start, end) = cluster
                .bounds(region)
                .ok_or_else(|| Reply::Status(INVALID_ARGUMENT, format!("no region {region}")))?;
            let mut verdict = Verdict::Serve;
            for &txn in txns.keys() {
                if lock(&cluster.faults).on_settle("KvResolveLock", txn) == Verdict::Drop {
                    verdict = Verdict::Drop;
                }
            }
            judged(verdict, || {
                let keys = (!req.keys.is_empty()).then_some(req.keys.as_slice());
                let result = lock(data).resolve(&start, &end, &txns, keys);
                pb::ResolveLockResponse {
                    error: result.err().map(key_error),
                }
                .encode_to_vec()
            })
        }
        "KvTxnHeartBeat" => {
            let req: pb::TxnHeartBeatRequest = decode(bytes)?;
            let mut resp = pb::TxnHeartBeatResponse::default();
            match lock(data).heart_beat(&req.primary_lock, req.start_version, req.advise_lock_ttl) {
                Ok(ttl) => resp.lock_ttl = ttl,
                Err(e) => resp.error = Some(key_error(e)),
            }
            Reply::Message(resp.encode_to_vec())
        }
        other => {
            return Err(Reply::Status(
                UNIMPLEMENTED,
                format!("fake TiKV does not implement {other}"),
            ));
        }
    })
}

fn mutation(m: &pb::Mutation) -> Result<mvcc::Mutation, Reply> {
    let key = m.key.clone();
    Ok(match pb::Op::try_from(m.op) {
        Ok(pb::Op::Put) => mvcc::Mutation::Put(key, m.value.clone()),
        Ok(pb::Op::Del) => mvcc::Mutation::Delete(key),
        Ok(pb::Op::Lock) => mvcc::Mutation::Lock(key),
        Ok(pb::Op::Insert) => mvcc::Mutation::Insert(key, m.value.clone()),
        Ok(pb::Op::CheckNotExists) => mvcc::Mutation::CheckNotExists(key),
        _ => {
            return Err(Reply::Status(
                UNIMPLEMENTED,
                format!("fake TiKV: mutation op {}", m.op),
            ));
        }
    })
}

fn txn_status(primary: &[u8], status: Result<TxnStatus, KeyErr>) -> pb::CheckTxnStatusResponse {
    let mut resp = pb::CheckTxnStatusResponse::default();
    match status {
        Ok(TxnStatus::Locked(lock, pushed)) => {
            resp.lock_ttl = lock.ttl;
            resp.lock_info = Some(lock_info(primary, &lock));
            if pushed {
                resp.action = pb::Action::MinCommitTsPushed as i32;
            }
        }
        Ok(TxnStatus::Committed(ts)) => resp.commit_version = ts,
        Ok(TxnStatus::RolledBack(how)) => {
            resp.action = match how {
                None => pb::Action::NoAction,
                Some(RolledNow::TtlExpired) => pb::Action::TtlExpireRollback,
                Some(RolledNow::LockNotExist) => pb::Action::LockNotExistRollback,
            } as i32;
        }
        Err(e) => resp.error = Some(key_error(e)),
    }
    resp
}

fn lock_info(key: &[u8], lock: &mvcc::Lock) -> pb::LockInfo {
    pb::LockInfo {
        primary_lock: lock.primary.clone(),
        lock_version: lock.start_ts,
        key: key.to_vec(),
        lock_ttl: lock.ttl,
        txn_size: lock.txn_size,
        lock_type: match lock.kind {
            LockKind::Put(_) => pb::Op::Put,
            LockKind::Delete => pb::Op::Del,
            LockKind::Lock => pb::Op::Lock,
        } as i32,
        min_commit_ts: lock.min_commit_ts,
    }
}

/// An error as TiKV's `extract_key_error` reports it: structured where kvproto has a field for
/// it, else TiKV's `Debug` text of the error in `retryable` or `abort` (clients match on it).
fn key_error(e: KeyErr) -> pb::KeyError {
    let mut k = pb::KeyError::default();
    match e {
        KeyErr::Locked { key, lock } => k.locked = Some(lock_info(&key, &lock)),
        KeyErr::WriteConflict {
            start_ts,
            conflict_start_ts,
            conflict_commit_ts,
            key,
            primary,
            reason,
        } => {
            k.conflict = Some(pb::WriteConflict {
                start_ts,
                conflict_ts: conflict_start_ts,
                key,
                primary,
                conflict_commit_ts,
                reason,
            })
        }
        KeyErr::AlreadyExist { key } => k.already_exist = Some(pb::AlreadyExist { key }),
        KeyErr::TxnLockNotFound {
            start_ts,
            commit_ts,
            key,
        } => {
            k.retryable = format!(
                "Error(Txn(Error(Mvcc(Error(TxnLockNotFound {{ start_ts: TimeStamp({start_ts}), \
                 commit_ts: TimeStamp({commit_ts}), key: {key:?} }})))))"
            )
        }
        KeyErr::Committed {
            start_ts,
            commit_ts,
            key,
        } => {
            k.abort = format!(
                "Error(Txn(Error(Mvcc(Error(Committed {{ start_ts: TimeStamp({start_ts}), \
                 commit_ts: TimeStamp({commit_ts}), key: {key:?} }})))))"
            )
        }
        KeyErr::TxnNotFound { start_ts, primary } => {
            k.txn_not_found = Some(pb::TxnNotFound {
                start_ts,
                primary_key: primary,
            })
        }
        KeyErr::CommitTsExpired {
            start_ts,
            attempted,
            key,
            min_commit_ts,
        } => {
            k.commit_ts_expired = Some(pb::CommitTsExpired {
                start_ts,
                attempted_commit_ts: attempted,
                key,
                min_commit_ts,
            })
        }
        KeyErr::PrimaryMismatch { key, lock } => {
            k.primary_mismatch = Some(pb::PrimaryMismatch {
                lock_info: Some(lock_info(&key, &lock)),
            })
        }
    }
    k
}
