//! Leader election over a `coordination.k8s.io/v1` Lease, so that of several operator replicas
//! exactly one reconciles. The algorithm is client-go's:
//!
//! - A candidate takes the lease when it is free, or when its record (holder, renew time,
//!   resourceVersion) has not changed for a whole lease duration *as measured by the candidate's
//!   own clock*: no two machines' clocks are ever compared.
//! - Writes carry the resourceVersion they read, so two candidates racing for one lease cannot
//!   both win: the API server refuses the second with 409.
//! - The leader renews every retry period and stops acting (the process exits) when it has not
//!   renewed for the renew deadline, which is shorter than the lease duration: it is gone before
//!   anyone else may take over.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

/// Lease timings, client-go's defaults.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    /// Who we are: the pod name, so `kubectl get lease` says which replica leads.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseConfig {
    pub fn new(name: &str, namespace: &str, identity: &str) -> Self {
        Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The parts of a lease record whose change shows its holder is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    holder: Option<String>,
    renew_time: Option<Timestamp>,
    resource_version: Option<String>,
}

/// One candidate.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// The last record seen and when (by our clock) it was first seen.
    observed: Option<(Record, Instant)>,
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl LeaderElector {
    pub fn new(client: kube::Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// One attempt to take or renew the lease; `true` if we hold it afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        self.try_acquire_or_renew_at(Instant::now(), Timestamp::now())
            .await
    }

    /// [`try_acquire_or_renew`](Self::try_acquire_or_renew) at a given local instant and wall time.
    pub async fn try_acquire_or_renew_at(
        &mut self,
        now: Instant,
        wall: Timestamp,
    ) -> Result<bool, kube::Error> {
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            return self.create(wall).await;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let record = Record {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renew_time: spec.renew_time.as_ref().map(|t| t.0),
            resource_version: lease.metadata.resource_version.clone(),
        };
        let first_seen = match &self.observed {
            Some((seen, at)) if *seen == record => *at,
            _ => now,
        };
        self.observed = Some((record.clone(), first_seen));

        let ours = record.holder.as_deref() == Some(self.config.identity.as_str());
        let duration = spec
            .lease_duration_seconds
            .map_or(self.config.lease_duration, |s| {
                Duration::from_secs(u64::try_from(s).unwrap_or(0))
            });
        let expired = now.saturating_duration_since(first_seen) >= duration;
        if record.holder.is_some() && !ours && !expired {
            return Ok(false);
        }
        let renewed = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                resource_version: lease.metadata.resource_version.clone(),
                ..lease.metadata.clone()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(seconds(self.config.lease_duration)),
                acquire_time: if ours {
                    spec.acquire_time.clone()
                } else {
                    Some(MicroTime(wall))
                },
                renew_time: Some(MicroTime(wall)),
                lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!ours)),
                ..spec
            }),
        };
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &renewed)
            .await
        {
            Ok(stored) => {
                self.remember(&stored, now);
                Ok(true)
            }
            // Someone else wrote first: they lead (or renewed) this round.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn create(&mut self, wall: Timestamp) -> Result<bool, kube::Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.config.identity.clone()),
                lease_duration_seconds: Some(seconds(self.config.lease_duration)),
                acquire_time: Some(MicroTime(wall)),
                renew_time: Some(MicroTime(wall)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(stored) => {
                self.remember(&stored, Instant::now());
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn remember(&mut self, lease: &Lease, at: Instant) {
        let spec = lease.spec.clone().unwrap_or_default();
        self.observed = Some((
            Record {
                holder: spec.holder_identity,
                renew_time: spec.renew_time.map(|t| t.0),
                resource_version: lease.metadata.resource_version.clone(),
            },
            at,
        ));
    }

    /// Campaigns until this candidate holds the lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired the leader lease");
                    return;
                }
                Ok(false) => tracing::debug!(lease = %self.config.name, "lease held by another replica"),
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }

    /// Renews every retry period; returns when the lease is lost (not renewed within the renew
    /// deadline), at which point the caller must stop acting.
    pub async fn keep_renewing(&mut self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.config.retry_period).await;
            // A renewal still in flight at the deadline counts as failed, however it ends: by the
            // time a slow API server answered, the lease could have expired and another replica
            // could be acting.
            let deadline = tokio::time::Instant::from_std(last_renewal + self.config.renew_deadline);
            match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewal = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::error!(lease = %self.config.name, "another replica took the lease");
                    return;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "renewing the leader lease failed"),
                Err(_) => {
                    tracing::error!(lease = %self.config.name, "renewing the leader lease did not complete before the renew deadline");
                    return;
                }
            }
            if last_renewal.elapsed() >= self.config.renew_deadline {
                tracing::error!(lease = %self.config.name, "could not renew the leader lease in time");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
