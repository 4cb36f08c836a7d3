//! The PD service (`pdpb.PD`): one member (itself, the leader), one store, the regions, and the
//! timestamp oracle. What tikv-client 0.4 asks of PD for transactions: `GetMembers` when it
//! connects, a `Tso` stream for timestamps, `GetRegion`/`GetRegionByID` and `GetStore` to route
//! requests; `GetAllStores` and `UpdateGCSafePoint` for its GC.

use prost::Message;

use crate::cluster::{CLUSTER_ID, Cluster, STORE_ID};
use crate::codec;
use crate::grpc::{INVALID_ARGUMENT, Reply, UNIMPLEMENTED};
use crate::proto::{metapb, pdpb};

pub const SERVICE: &str = "/pdpb.PD/";
pub const TSO: &str = "/pdpb.PD/Tso";

fn header() -> Option<pdpb::ResponseHeader> {
    Some(pdpb::ResponseHeader {
        cluster_id: CLUSTER_ID,
    })
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, Reply> {
    M::decode(bytes).map_err(|e| Reply::Status(INVALID_ARGUMENT, e.to_string()))
}

pub fn unary(cluster: &Cluster, method: &str, bytes: &[u8]) -> Reply {
    match answer(cluster, method, bytes) {
        Ok(m) => Reply::Message(m),
        Err(r) => r,
    }
}

fn answer(cluster: &Cluster, method: &str, bytes: &[u8]) -> Result<Vec<u8>, Reply> {
    Ok(match method {
        "GetMembers" => {
            let me = pdpb::Member {
                name: "fake-pd".into(),
                member_id: 1,
                peer_urls: vec![cluster.url()],
                client_urls: vec![cluster.url()],
            };
            pdpb::GetMembersResponse {
                header: header(),
                members: vec![me.clone()],
                leader: Some(me.clone()),
                etcd_leader: Some(me),
            }
            .encode_to_vec()
        }
        "GetRegion" => {
            let req: pdpb::GetRegionRequest = decode(bytes)?;
            let key = codec::decode(&req.region_key)
                .ok_or_else(|| Reply::Status(INVALID_ARGUMENT, "a key not memcomparable-encoded".into()))?;
            region_response(cluster.region_of(&key))
        }
        "GetRegionByID" => {
            let req: pdpb::GetRegionByIdRequest = decode(bytes)?;
            region_response(cluster.region(req.region_id))
        }
        "GetStore" => {
            let req: pdpb::GetStoreRequest = decode(bytes)?;
            if req.store_id != STORE_ID {
                return Err(Reply::Status(
                    INVALID_ARGUMENT,
                    format!("no store {}", req.store_id),
                ));
            }
            pdpb::GetStoreResponse {
                header: header(),
                store: Some(store(cluster)),
            }
            .encode_to_vec()
        }
        "GetAllStores" => pdpb::GetAllStoresResponse {
            header: header(),
            stores: vec![store(cluster)],
        }
        .encode_to_vec(),
        "UpdateGCSafePoint" => {
            let req: pdpb::UpdateGcSafePointRequest = decode(bytes)?;
            pdpb::UpdateGcSafePointResponse {
                header: header(),
                new_safe_point: cluster.advance_safe_point(req.safe_point),
            }
            .encode_to_vec()
        }
        other => return Err(Reply::Status(UNIMPLEMENTED, format!("fake PD has no {other}"))),
    })
}

/// One message of the `Tso` stream: `count` timestamps, answered as the last of them.
pub fn tso(cluster: &Cluster, bytes: &[u8]) -> Reply {
    let req: pdpb::TsoRequest = match decode(bytes) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (physical, logical) = cluster.timestamps(req.count.max(1));
    Reply::Message(
        pdpb::TsoResponse {
            header: header(),
            count: req.count,
            timestamp: Some(pdpb::Timestamp {
                physical: physical as i64,
                logical: logical as i64,
                suffix_bits: 0,
            }),
        }
        .encode_to_vec(),
    )
}

fn region_response(region: Option<metapb::Region>) -> Vec<u8> {
    let leader = region.as_ref().and_then(|r| r.peers.first().cloned());
    pdpb::GetRegionResponse {
        header: header(),
        region,
        leader,
    }
    .encode_to_vec()
}

fn store(cluster: &Cluster) -> metapb::Store {
    metapb::Store {
        id: STORE_ID,
        address: cluster.addr.to_string(),
        state: 0,
        version: "8.5.0".into(),
    }
}
