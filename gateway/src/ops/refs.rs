//! Blob reference counts. A blob may back several records (a copy shares its source's blob),
//! so it is deleted only when the last record that points at it is gone.

use crate::blob::BlobId;
use crate::meta::{MetaResult, MetaTxn, keys};

async fn count(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<u64> {
    let raw = txn.get(&keys::blob_ref(blob.as_str())).await?;
    Ok(raw
        .and_then(|r| std::str::from_utf8(&r).ok()?.parse().ok())
        .unwrap_or(0))
}

/// Records a new reference to a blob.
pub async fn add(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<()> {
    let n = count(txn, blob).await?;
    txn.put(&keys::blob_ref(blob.as_str()), (n + 1).to_string().as_bytes())
        .await
}

/// Drops a reference; true when it was the last, so the caller frees the blob after commit.
pub async fn release(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<bool> {
    let n = count(txn, blob).await?;
    if n <= 1 {
        txn.delete(&keys::blob_ref(blob.as_str())).await?;
        Ok(true)
    } else {
        txn.put(&keys::blob_ref(blob.as_str()), (n - 1).to_string().as_bytes())
            .await?;
        Ok(false)
    }
}

pub async fn is_referenced(txn: &mut dyn MetaTxn, blob: &BlobId) -> MetaResult<bool> {
    Ok(txn.get(&keys::blob_ref(blob.as_str())).await?.is_some())
}
