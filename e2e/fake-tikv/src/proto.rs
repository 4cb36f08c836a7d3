//! The protobuf messages of kvproto (`metapb`, `pdpb`, `kvrpcpb`) that tikv-client 0.4.0 sends
//! and reads for transactions, as prost structs.
//!
//! Copied from tikv-client 0.4.0's generated code (`src/generated/{metapb,pdpb,kvrpcpb}.rs`,
//! prost-build output of kvproto; Copyright TiKV Project Authors, Apache-2.0), keeping only the
//! messages and fields the fake reads or writes. Field numbers are kvproto's; prost skips the
//! fields a request carries that are not listed here, and a response leaves unlisted fields at
//! their defaults, which is what TiKV sends for features the fake does not have.

pub mod metapb {
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Region {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        /// Memcomparable-encoded (PD's view of a transactional key space).
        #[prost(bytes = "vec", tag = "2")]
        pub start_key: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub end_key: Vec<u8>,
        #[prost(message, optional, tag = "4")]
        pub region_epoch: Option<RegionEpoch>,
        #[prost(message, repeated, tag = "5")]
        pub peers: Vec<Peer>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct RegionEpoch {
        #[prost(uint64, tag = "1")]
        pub conf_ver: u64,
        #[prost(uint64, tag = "2")]
        pub version: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Peer {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(uint64, tag = "2")]
        pub store_id: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Store {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(string, tag = "2")]
        pub address: String,
        /// `StoreState::Up` is 0.
        #[prost(int32, tag = "3")]
        pub state: i32,
        #[prost(string, tag = "5")]
        pub version: String,
    }
}

pub mod pdpb {
    use super::metapb;

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct RequestHeader {
        #[prost(uint64, tag = "1")]
        pub cluster_id: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct ResponseHeader {
        #[prost(uint64, tag = "1")]
        pub cluster_id: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Member {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(uint64, tag = "2")]
        pub member_id: u64,
        #[prost(string, repeated, tag = "3")]
        pub peer_urls: Vec<String>,
        #[prost(string, repeated, tag = "4")]
        pub client_urls: Vec<String>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetMembersResponse {
        #[prost(message, optional, tag = "1")]
        pub header: Option<ResponseHeader>,
        #[prost(message, repeated, tag = "2")]
        pub members: Vec<Member>,
        #[prost(message, optional, tag = "3")]
        pub leader: Option<Member>,
        #[prost(message, optional, tag = "4")]
        pub etcd_leader: Option<Member>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TsoRequest {
        #[prost(message, optional, tag = "1")]
        pub header: Option<RequestHeader>,
        #[prost(uint32, tag = "2")]
        pub count: u32,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TsoResponse {
        #[prost(message, optional, tag = "1")]
        pub header: Option<ResponseHeader>,
        #[prost(uint32, tag = "2")]
        pub count: u32,
        #[prost(message, optional, tag = "3")]
        pub timestamp: Option<Timestamp>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub physical: i64,
        #[prost(int64, tag = "2")]
        pub logical: i64,
        #[prost(uint32, tag = "3")]
        pub suffix_bits: u32,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetRegionRequest {
        #[prost(message, optional, tag = "1")]
        pub header: Option<RequestHeader>,
        #[prost(bytes = "vec", tag = "2")]
        pub region_key: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetRegionResponse {
        #[prost(message, optional, tag = "1")]
        pub header: Option<ResponseHeader>,
        #[prost(message, optional, tag = "2")]
        pub region: Option<metapb::Region>,
        #[prost(message, optional, tag = "3")]
        pub leader: Option<metapb::Peer>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetRegionByIdRequest {
        #[prost(message, optional, tag = "1")]
        pub header: Option<RequestHeader>,
        #[prost(uint64, tag = "2")]
        pub region_id: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetStoreRequest {
        #[prost(message, optional, tag = "1")]
        pub header: Option<RequestHeader>,
        #[prost(uint64, tag = "2")]
        pub store_id: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetStoreResponse {
        #[prost(message, optional, tag = "1")]
        pub header: Option<ResponseHeader>,
        #[prost(message, optional, tag = "2")]
        pub store: Option<metapb::Store>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetAllStoresResponse {
        #[prost(message, optional, tag = "1")]
        pub header: Option<ResponseHeader>,
        #[prost(message, repeated, tag = "2")]
        pub stores: Vec<metapb::Store>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct UpdateGcSafePointRequest {
        #[prost(message, optional, tag = "1")]
        pub header: Option<RequestHeader>,
        #[prost(uint64, tag = "2")]
        pub safe_point: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct UpdateGcSafePointResponse {
        #[prost(message, optional, tag = "1")]
        pub header: Option<ResponseHeader>,
        #[prost(uint64, tag = "2")]
        pub new_safe_point: u64,
    }
}

pub mod kvrpcpb {
    /// Only the region is read: a resolve-lock request without keys covers its whole region.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Context {
        #[prost(uint64, tag = "1")]
        pub region_id: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(bytes = "vec", tag = "2")]
        pub key: Vec<u8>,
        #[prost(uint64, tag = "3")]
        pub version: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct GetResponse {
        #[prost(message, optional, tag = "2")]
        pub error: Option<KeyError>,
        #[prost(bytes = "vec", tag = "3")]
        pub value: Vec<u8>,
        #[prost(bool, tag = "4")]
        pub not_found: bool,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct ScanRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(bytes = "vec", tag = "2")]
        pub start_key: Vec<u8>,
        #[prost(uint32, tag = "3")]
        pub limit: u32,
        #[prost(uint64, tag = "4")]
        pub version: u64,
        #[prost(bool, tag = "5")]
        pub key_only: bool,
        #[prost(bool, tag = "6")]
        pub reverse: bool,
        /// Forward: `[start_key, end_key)`; reverse: `[end_key, start_key)`, descending.
        #[prost(bytes = "vec", tag = "7")]
        pub end_key: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct ScanResponse {
        #[prost(message, repeated, tag = "2")]
        pub pairs: Vec<KvPair>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct BatchGetRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub keys: Vec<Vec<u8>>,
        #[prost(uint64, tag = "3")]
        pub version: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct BatchGetResponse {
        #[prost(message, repeated, tag = "2")]
        pub pairs: Vec<KvPair>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct KvPair {
        #[prost(message, optional, tag = "1")]
        pub error: Option<KeyError>,
        #[prost(bytes = "vec", tag = "2")]
        pub key: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Mutation {
        #[prost(enumeration = "Op", tag = "1")]
        pub op: i32,
        #[prost(bytes = "vec", tag = "2")]
        pub key: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub value: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct PrewriteRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(message, repeated, tag = "2")]
        pub mutations: Vec<Mutation>,
        #[prost(bytes = "vec", tag = "3")]
        pub primary_lock: Vec<u8>,
        #[prost(uint64, tag = "4")]
        pub start_version: u64,
        #[prost(uint64, tag = "5")]
        pub lock_ttl: u64,
        #[prost(uint64, tag = "8")]
        pub txn_size: u64,
        /// Set only by pessimistic transactions, which the fake refuses.
        #[prost(uint64, tag = "9")]
        pub for_update_ts: u64,
        #[prost(uint64, tag = "10")]
        pub min_commit_ts: u64,
        /// Refused by the fake (tikv-client 0.4 does not use it for the gateway).
        #[prost(bool, tag = "11")]
        pub use_async_commit: bool,
        #[prost(bool, tag = "13")]
        pub try_one_pc: bool,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct PrewriteResponse {
        #[prost(message, repeated, tag = "2")]
        pub errors: Vec<KeyError>,
        #[prost(uint64, tag = "3")]
        pub min_commit_ts: u64,
        #[prost(uint64, tag = "4")]
        pub one_pc_commit_ts: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CommitRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(uint64, tag = "2")]
        pub start_version: u64,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub keys: Vec<Vec<u8>>,
        #[prost(uint64, tag = "4")]
        pub commit_version: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CommitResponse {
        #[prost(message, optional, tag = "2")]
        pub error: Option<KeyError>,
        #[prost(uint64, tag = "3")]
        pub commit_version: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct BatchRollbackRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(uint64, tag = "2")]
        pub start_version: u64,
        #[prost(bytes = "vec", repeated, tag = "3")]
        pub keys: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct BatchRollbackResponse {
        #[prost(message, optional, tag = "2")]
        pub error: Option<KeyError>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CheckTxnStatusRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(bytes = "vec", tag = "2")]
        pub primary_key: Vec<u8>,
        #[prost(uint64, tag = "3")]
        pub lock_ts: u64,
        #[prost(uint64, tag = "4")]
        pub caller_start_ts: u64,
        #[prost(uint64, tag = "5")]
        pub current_ts: u64,
        #[prost(bool, tag = "6")]
        pub rollback_if_not_exist: bool,
        #[prost(bool, tag = "9")]
        pub verify_is_primary: bool,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CheckTxnStatusResponse {
        #[prost(message, optional, tag = "2")]
        pub error: Option<KeyError>,
        /// Locked: `lock_ttl > 0`; committed: `commit_version > 0`; rolled back: both 0.
        #[prost(uint64, tag = "3")]
        pub lock_ttl: u64,
        #[prost(uint64, tag = "4")]
        pub commit_version: u64,
        #[prost(enumeration = "Action", tag = "5")]
        pub action: i32,
        #[prost(message, optional, tag = "6")]
        pub lock_info: Option<LockInfo>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct ResolveLockRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(uint64, tag = "2")]
        pub start_version: u64,
        /// 0: the transaction rolled back; else its commit timestamp.
        #[prost(uint64, tag = "3")]
        pub commit_version: u64,
        #[prost(message, repeated, tag = "4")]
        pub txn_infos: Vec<TxnInfo>,
        /// Only these keys (else every lock of the transaction in the region).
        #[prost(bytes = "vec", repeated, tag = "5")]
        pub keys: Vec<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct ResolveLockResponse {
        #[prost(message, optional, tag = "2")]
        pub error: Option<KeyError>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TxnInfo {
        #[prost(uint64, tag = "1")]
        pub txn: u64,
        #[prost(uint64, tag = "2")]
        pub status: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TxnHeartBeatRequest {
        #[prost(message, optional, tag = "1")]
        pub context: Option<Context>,
        #[prost(bytes = "vec", tag = "2")]
        pub primary_lock: Vec<u8>,
        #[prost(uint64, tag = "3")]
        pub start_version: u64,
        #[prost(uint64, tag = "4")]
        pub advise_lock_ttl: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TxnHeartBeatResponse {
        #[prost(message, optional, tag = "2")]
        pub error: Option<KeyError>,
        #[prost(uint64, tag = "3")]
        pub lock_ttl: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct LockInfo {
        #[prost(bytes = "vec", tag = "1")]
        pub primary_lock: Vec<u8>,
        #[prost(uint64, tag = "2")]
        pub lock_version: u64,
        #[prost(bytes = "vec", tag = "3")]
        pub key: Vec<u8>,
        #[prost(uint64, tag = "4")]
        pub lock_ttl: u64,
        #[prost(uint64, tag = "5")]
        pub txn_size: u64,
        #[prost(enumeration = "Op", tag = "6")]
        pub lock_type: i32,
        #[prost(uint64, tag = "9")]
        pub min_commit_ts: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct KeyError {
        #[prost(message, optional, tag = "1")]
        pub locked: Option<LockInfo>,
        #[prost(string, tag = "2")]
        pub retryable: String,
        #[prost(string, tag = "3")]
        pub abort: String,
        #[prost(message, optional, tag = "4")]
        pub conflict: Option<WriteConflict>,
        #[prost(message, optional, tag = "5")]
        pub already_exist: Option<AlreadyExist>,
        #[prost(message, optional, tag = "7")]
        pub commit_ts_expired: Option<CommitTsExpired>,
        #[prost(message, optional, tag = "8")]
        pub txn_not_found: Option<TxnNotFound>,
        #[prost(message, optional, tag = "11")]
        pub primary_mismatch: Option<PrimaryMismatch>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct WriteConflict {
        #[prost(uint64, tag = "1")]
        pub start_ts: u64,
        #[prost(uint64, tag = "2")]
        pub conflict_ts: u64,
        #[prost(bytes = "vec", tag = "3")]
        pub key: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        pub primary: Vec<u8>,
        #[prost(uint64, tag = "5")]
        pub conflict_commit_ts: u64,
        /// `write_conflict::Reason`: 1 optimistic, 3 self rolled back.
        #[prost(int32, tag = "6")]
        pub reason: i32,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct AlreadyExist {
        #[prost(bytes = "vec", tag = "1")]
        pub key: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct CommitTsExpired {
        #[prost(uint64, tag = "1")]
        pub start_ts: u64,
        #[prost(uint64, tag = "2")]
        pub attempted_commit_ts: u64,
        #[prost(bytes = "vec", tag = "3")]
        pub key: Vec<u8>,
        #[prost(uint64, tag = "4")]
        pub min_commit_ts: u64,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct TxnNotFound {
        #[prost(uint64, tag = "1")]
        pub start_ts: u64,
        #[prost(bytes = "vec", tag = "2")]
        pub primary_key: Vec<u8>,
    }

    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct PrimaryMismatch {
        #[prost(message, optional, tag = "1")]
        pub lock_info: Option<LockInfo>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Op {
        Put = 0,
        Del = 1,
        Lock = 2,
        Rollback = 3,
        Insert = 4,
        PessimisticLock = 5,
        CheckNotExists = 6,
    }

    /// kvproto's names, `NoAction` included.
    #[allow(clippy::enum_variant_names)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Action {
        NoAction = 0,
        TtlExpireRollback = 1,
        LockNotExistRollback = 2,
        MinCommitTsPushed = 3,
        TtlExpirePessimisticRollback = 4,
        LockNotExistDoNothing = 5,
    }
}
