//! A gateway's identity in its store and what it publishes about itself.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::Nanos;

/// Longest node id: a Kubernetes pod name is a DNS subdomain (253 characters).
const MAX_NODE_ID: usize = 253;

/// A gateway's stable name: a StatefulSet pod's name in a cluster. Blob references record it, so
/// it must never change for a volume (it is kept in the volume).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(String);

impl NodeId {
    /// Lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit: the
    /// shape of a pod name, safe in keys, paths and headers.
    pub fn parse(s: &str) -> Option<Self> {
        let ok_char = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let bytes = s.as_bytes();
        (!bytes.is_empty()
            && bytes.len() <= MAX_NODE_ID
            && bytes.iter().all(|&b| ok_char(b))
            && alnum(bytes[0])
            && alnum(bytes[bytes.len() - 1]))
        .then(|| Self(s.to_owned()))
    }

    /// A node id made from a host name (which may have capitals or other characters).
    pub fn from_hostname(host: &str) -> Option<Self> {
        let cleaned: String = host
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Self::parse(cleaned.trim_matches(|c| c == '-' || c == '.'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file in a volume that remembers whose volume it is.
const NODE_ID_FILE: &str = "node-id";
/// The file that tells this volume from any other (a random token made on first use).
const VOLUME_ID_FILE: &str = "volume-id";

fn write_durably(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// This volume's token, made on first use: two gateways that claim one node id are told apart
/// by it.
pub fn volume_token(volume: &std::path::Path) -> std::io::Result<String> {
    let path = volume.join(VOLUME_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = hex::encode(rand::random::<[u8; 16]>());
            write_durably(&path, &token)?;
            Ok(token)
        }
        Err(e) => Err(e),
    }
}

/// The node id of the gateway serving `volume`: the one the volume remembers, else `wanted`
/// (remembered from now on). A volume never changes hands silently: asking for another id than
/// the one it remembers is an error.
pub fn claim_volume(volume: &std::path::Path, wanted: NodeId, explicit: bool) -> std::io::Result<NodeId> {
    use std::io::{Error, ErrorKind};
    let path = volume.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let remembered = NodeId::parse(text.trim()).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidData,
                    format!("{} holds no node id", path.display()),
                )
            })?;
            if explicit && remembered != wanted {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "the volume {} belongs to gateway {remembered}, not {wanted}",
                        volume.display()
                    ),
                ));
            }
            Ok(remembered)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            write_durably(&path, wanted.as_str())?;
            Ok(wanted)
        }
        Err(e) => Err(e),
    }
}

/// A gateway as registered in the metadata store, refreshed by its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: NodeId,
    /// Where other gateways reach its peer endpoint (`http://host:port`).
    pub peer_url: String,
    /// Bytes of its volume, and of those the bytes still free.
    pub capacity: u64,
    pub free: u64,
    /// When it last said it was alive (its own clock).
    pub heartbeat: Nanos,
    /// Its volume's token ([`volume_token`]).
    #[serde(default)]
    pub volume: String,
}

impl NodeRecord {
    /// Its room as its last heartbeat published it.
    pub fn room(&self) -> crate::blob::Room {
        crate::blob::Room {
            capacity: self.capacity,
            free: self.free,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_have_the_shape_of_pod_names() {
        for ok in ["gw-0", "store-a-2", "a", "node.example"] {
            assert!(NodeId::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", "-gw", "gw-", "GW", "a/b", "a b", "é", &"x".repeat(254)] {
            assert!(NodeId::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(
            NodeId::from_hostname("My_Laptop.local").unwrap().as_str(),
            "my-laptop.local"
        );
        assert_eq!(NodeId::from_hostname("__"), None);
    }

    #[test]
    fn a_volume_keeps_its_node_id() {
        let dir = tempfile::tempdir().unwrap();
        let a = NodeId::parse("gw-a").unwrap();
        let b = NodeId::parse("gw-b").unwrap();
        assert_eq!(claim_volume(dir.path(), a.clone(), false).unwrap(), a);
        assert_eq!(claim_volume(dir.path(), b.clone(), false).unwrap(), a);
        assert!(claim_volume(dir.path(), b, true).is_err());
    }
}
