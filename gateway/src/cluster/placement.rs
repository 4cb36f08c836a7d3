//! Where a new blob's extra copies go: highest-random-weight (rendezvous) hashing of the blob id
//! with each candidate's node id, so the choice is deterministic, spreads evenly, and moves
//! little when gateways come and go.

use sha2::{Digest as _, Sha256};

use super::NodeRecord;
use crate::blob::BlobId;

fn weight(blob: &BlobId, node: &NodeRecord) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(blob.as_str().as_bytes());
    h.update([0]);
    h.update(node.id.as_str().as_bytes());
    h.finalize().into()
}

/// The candidates with room for `size` more bytes, in the order copies of `blob` should try them.
pub fn rank(blob: &BlobId, size: u64, candidates: Vec<NodeRecord>) -> Vec<NodeRecord> {
    let mut ranked: Vec<([u8; 32], NodeRecord)> = candidates
        .into_iter()
        .filter(|n| n.free >= size)
        .map(|n| (weight(blob, &n), n))
        .collect();
    ranked.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
    ranked.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::NodeId;
    use crate::model::Nanos;

    fn node(id: &str, free: u64) -> NodeRecord {
        NodeRecord {
            id: NodeId::parse(id).unwrap(),
            peer_url: String::new(),
            capacity: free,
            free,
            heartbeat: Nanos(0),
            volume: String::new(),
        }
    }

    #[test]
    fn ranking_is_deterministic_skips_full_nodes_and_spreads() {
        let nodes = || vec![node("a", 100), node("b", 100), node("c", 100), node("full", 1)];
        let mut firsts = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..300 {
            let blob = BlobId::generate();
            let once = rank(&blob, 10, nodes());
            assert_eq!(once, rank(&blob, 10, nodes()));
            assert_eq!(once.len(), 3);
            *firsts.entry(once[0].id.to_string()).or_default() += 1;
        }
        assert_eq!(firsts.len(), 3, "every node is first for some blobs: {firsts:?}");
        assert!(firsts.values().all(|&n| n > 50), "{firsts:?}");
    }
}
