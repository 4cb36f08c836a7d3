//! LifecycleRule reconciler: all LifecycleRules of a bucket become its one lifecycle
//! configuration (PutBucketLifecycleConfiguration); deleting a rule re-applies the others, and
//! deleting the last one deletes the configuration (DeleteBucketLifecycle).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;

use super::bucket_config::{AppliedTo, BucketConfig};
use crate::bucket_name::BucketName;
use crate::crd::{LifecycleRule, LifecycleRuleStatus};
use crate::resources::lifecycle::{Named, merge, rule_id};
use crate::store_client::{StoreClient, StoreError};

pub const FINALIZER: &str = "stowage.dev/lifecycle-rule";

impl BucketConfig for LifecycleRule {
    const KIND: &'static str = "LifecycleRule";
    const FINALIZER: &'static str = FINALIZER;
    type Document = String;
    type Status = LifecycleRuleStatus;

    fn bucket_ref(&self) -> &str {
        &self.spec.bucket_ref.name
    }

    fn status(&self) -> Option<&LifecycleRuleStatus> {
        self.status.as_ref()
    }

    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }

    fn new_status(&self, conditions: Vec<Condition>, applied_to: Option<&AppliedTo>) -> LifecycleRuleStatus {
        let previous = self.status.as_ref();
        let name = self.name_any();
        LifecycleRuleStatus {
            conditions,
            observed_generation: self.metadata.generation,
            bucket_name: applied_to
                .map(|a| a.bucket_name.clone())
                .or_else(|| previous.and_then(|p| p.bucket_name.clone())),
            store: applied_to
                .map(|a| a.store.clone())
                .or_else(|| previous.and_then(|p| p.store.clone())),
            rule_id: Some(rule_id(&name, &self.spec).to_owned()),
        }
    }

    fn merge(_bucket: &BucketName, items: &[Self]) -> (Option<String>, BTreeMap<String, String>) {
        let names: Vec<String> = items.iter().map(|i| i.name_any()).collect();
        let named: Vec<Named<'_>> = items
            .iter()
            .zip(&names)
            .map(|(i, name)| Named { name, spec: &i.spec })
            .collect();
        let merged = merge(&named);
        let conflicts = merged
            .conflicts
            .into_iter()
            .map(|(rule, id)| {
                (
                    rule,
                    format!("rule ID {id:?} is already used by another LifecycleRule"),
                )
            })
            .collect();
        (merged.xml, conflicts)
    }

    async fn put(client: &StoreClient, bucket: &BucketName, xml: &String) -> Result<(), StoreError> {
        client.put_bucket_lifecycle(bucket, xml).await
    }

    async fn delete(client: &StoreClient, bucket: &BucketName) -> Result<(), StoreError> {
        client.delete_bucket_lifecycle(bucket).await
    }
}
