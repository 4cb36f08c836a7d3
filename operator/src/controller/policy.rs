//! BucketPolicy reconciler: all BucketPolicies of a bucket become its one policy document
//! (PutBucketPolicy); deleting the last one deletes it (DeleteBucketPolicy).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;

use super::bucket_config::{AppliedTo, BucketConfig};
use crate::bucket_name::BucketName;
use crate::crd::{BucketPolicy, BucketPolicyStatus};
use crate::resources::policy::{Named, merge};
use crate::store_client::{StoreClient, StoreError};

pub const FINALIZER: &str = "stowage.dev/bucket-policy";

impl BucketConfig for BucketPolicy {
    const KIND: &'static str = "BucketPolicy";
    const FINALIZER: &'static str = FINALIZER;
    type Document = serde_json::Value;
    type Status = BucketPolicyStatus;

    fn bucket_ref(&self) -> &str {
        &self.spec.bucket_ref.name
    }

    fn status(&self) -> Option<&BucketPolicyStatus> {
        self.status.as_ref()
    }

    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }

    fn new_status(&self, conditions: Vec<Condition>, applied_to: Option<&AppliedTo>) -> BucketPolicyStatus {
        let previous = self.status.as_ref();
        BucketPolicyStatus {
            conditions,
            observed_generation: self.metadata.generation,
            bucket_name: applied_to
                .map(|a| a.bucket_name.clone())
                .or_else(|| previous.and_then(|p| p.bucket_name.clone())),
            store: applied_to
                .map(|a| a.store.clone())
                .or_else(|| previous.and_then(|p| p.store.clone())),
        }
    }

    fn merge(bucket: &BucketName, items: &[Self]) -> (Option<serde_json::Value>, BTreeMap<String, String>) {
        let names: Vec<String> = items.iter().map(|i| i.name_any()).collect();
        let named: Vec<Named<'_>> = items
            .iter()
            .zip(&names)
            .map(|(i, name)| Named { name, spec: &i.spec })
            .collect();
        let merged = merge(bucket.as_str(), &named);
        let conflicts = merged
            .conflicts
            .into_iter()
            .map(|(policy, sid)| {
                (
                    policy,
                    format!("statement id {sid:?} is already used by another BucketPolicy"),
                )
            })
            .collect();
        (merged.document, conflicts)
    }

    async fn put(
        client: &StoreClient,
        bucket: &BucketName,
        document: &serde_json::Value,
    ) -> Result<(), StoreError> {
        client.put_bucket_policy(bucket, document).await
    }

    async fn delete(client: &StoreClient, bucket: &BucketName) -> Result<(), StoreError> {
        client.delete_bucket_policy(bucket).await
    }
}
