//! The access decision on every request: who is asking (the key's identity), what the call
//! needs (`permissions`), and what the bucket's owner and policy say. Explicit Deny beats Allow
//! beats the default; the default lets members of the bucket's org do what their key allows and
//! denies everyone else. The root identity administers the store and is not subject to policies.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{DeleteObjectsInput, PostObjectInput, PutObjectTaggingInput};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::expected_owner;
use super::identity::{AccessMode, Identities, Identity};
use super::missing_key::{self, MayList};
use super::permissions::{Needed, copy_source, needed};
use super::policy::{Context, Decision, Policy, Principal, Request};
use super::post_form::{FormFileName, form_key, refuse_signature_v2};
use super::replay::{ProvenCaller, ReplayProbe};
use crate::errors::no_such_bucket;
use crate::ops::Store;
use crate::tls::Transport;

/// How long a bucket's owner and policy are trusted without reading them again. A policy change
/// made through this gateway applies at once; through another gateway, within this time.
const BUCKET_TTL: Duration = Duration::from_secs(2);

/// The caller of a request, as resolved by the access check (None: anonymous). Operations read
/// it from the request extensions.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<Identity>);

#[derive(Clone)]
struct BucketAuth {
    owner_org: String,
    policy: BucketPolicy,
    /// RestrictPublicBuckets with a public policy: the policy grants nothing outside the org.
    restricted: bool,
}

#[derive(Clone)]
enum BucketPolicy {
    None,
    Parsed(Arc<Policy>),
    /// A stored policy that no longer parses (a store written by another release, a damaged
    /// record): its Deny statements cannot be honoured, so it denies everything except fixing it.
    Unreadable,
}

/// What the bucket owner may still do under an unreadable policy: replace or remove it.
const POLICY_REPAIR: [&str; 3] = [
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
];

pub struct Access {
    pub(super) store: Store,
    identities: Arc<Identities>,
    buckets: Mutex<HashMap<String, (Instant, Option<BucketAuth>)>>,
}

pub(super) fn denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

/// Condition values of one request.
struct Facts {
    values: HashMap<String, Vec<String>>,
}

/// Condition keys are case-insensitive, except the tag name of `s3:ExistingObjectTag/<tag>`
/// and `s3:RequestObjectTag/<tag>` (S3 tag keys are case-sensitive).
fn normalize(key: &str) -> String {
    for tag in ["s3:existingobjecttag/", "s3:requestobjecttag/"] {
        if let Some(head) = key.get(..tag.len())
            && head.eq_ignore_ascii_case(tag)
        {
            return format!("{tag}{}", &key[tag.len()..]);
        }
    }
    key.to_ascii_lowercase()
}

/// Request headers whose value is a condition key of the same meaning, on the requests that
/// carry them (a key a request does not carry stays absent, so `...IfExists` and `Null` work).
const HEADER_KEYS: &[(&str, &str)] = &[
    (
        "x-amz-server-side-encryption-customer-algorithm",
        "s3:x-amz-server-side-encryption-customer-algorithm",
    ),
    ("x-amz-server-side-encryption", "s3:x-amz-server-side-encryption"),
    (
        "x-amz-server-side-encryption-aws-kms-key-id",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
    ),
    ("x-amz-acl", "s3:x-amz-acl"),
    ("x-amz-grant-read", "s3:x-amz-grant-read"),
    ("x-amz-grant-write", "s3:x-amz-grant-write"),
    ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
    ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
    ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
    ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
    ("referer", "aws:Referer"),
    ("user-agent", "aws:UserAgent"),
];

impl Context for Facts {
    fn values(&self, key: &str) -> Option<Vec<String>> {
        self.values.get(&normalize(key)).cloned()
    }
}

impl Facts {
    fn new(
        identity: Option<&Identity>,
        source: Option<SocketAddr>,
        transport: Transport,
        query: Option<&str>,
        headers: &http::HeaderMap,
    ) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut set = |k: &str, v: String| {
            values.insert(normalize(k), vec![v]);
        };
        if let Some(addr) = source {
            set("aws:SourceIp", addr.ip().to_string());
        }
        set("aws:SecureTransport", transport.is_tls().to_string());
        set(
            "aws:CurrentTime",
            now.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        );
        set("aws:EpochTime", now.unix_timestamp().to_string());
        if let Some(id) = identity {
            set("aws:username", id.user.clone());
            set("aws:PrincipalOrgID", id.org.clone());
        }
        for pair in query.unwrap_or_default().split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = urlencoding::decode(v).map(|c| c.into_owned()).unwrap_or_default();
            match k {
                "prefix" => set("s3:prefix", v),
                "delimiter" => set("s3:delimiter", v),
                "max-keys" => set("s3:max-keys", v),
                "versionId" => set("s3:VersionId", v),
                _ => {}
            }
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        for (name, key) in HEADER_KEYS {
            if let Some(v) = header(name) {
                set(key, v.to_owned());
            }
        }
        // AWS compares the copy source as `bucket/key`, decoded, without a leading slash.
        if let Some(v) = header("x-amz-copy-source") {
            let decoded = urlencoding::decode(v).map(|c| c.into_owned()).unwrap_or_default();
            set("s3:x-amz-copy-source", decoded.trim_start_matches('/').to_owned());
        }
        let mut facts = Self { values };
        if let Some(tagging) = header("x-amz-tagging") {
            let decode = |s: &str| urlencoding::decode(s).map(|c| c.into_owned()).unwrap_or_default();
            facts.set_request_tags(tagging.split('&').filter(|p| !p.is_empty()).map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            }));
        }
        facts
    }

    /// `s3:RequestObjectTag/<key>` for each tag a request sets, and `s3:RequestObjectTagKeys`.
    fn set_request_tags(&mut self, tags: impl Iterator<Item = (String, String)>) {
        let mut keys = Vec::new();
        for (k, v) in tags {
            self.values
                .insert(normalize(&format!("s3:RequestObjectTag/{k}")), vec![v]);
            keys.push(k);
        }
        self.values.insert(normalize("s3:RequestObjectTagKeys"), keys);
    }
}

impl Access {
    pub fn new(store: Store, identities: Arc<Identities>) -> Self {
        Self {
            store,
            identities,
            buckets: Mutex::default(),
        }
    }

    /// Forgets what is cached of a bucket (after its policy changed here).
    pub fn invalidate(&self, bucket: &str) {
        if let Ok(mut b) = self.buckets.lock() {
            b.remove(bucket);
        }
    }

    async fn bucket(&self, name: &str) -> S3Result<Option<BucketAuth>> {
        if let Ok(b) = self.buckets.lock()
            && let Some((at, hit)) = b.get(name)
            && at.elapsed() < BUCKET_TTL
        {
            return Ok(hit.clone());
        }
        let found = match self.store.bucket(name).await {
            Ok(record) => {
                let policy = match record.policy.as_deref() {
                    Some(doc) => match Policy::parse(doc, name) {
                        Ok(policy) => BucketPolicy::Parsed(Arc::new(policy)),
                        Err(e) => {
                            tracing::error!(bucket = name, error = %e, "stored bucket policy does not parse: denying requests until it is replaced");
                            BucketPolicy::Unreadable
                        }
                    },
                    None => BucketPolicy::None,
                };
                let restricted = record
                    .public_access_block
                    .is_some_and(|b| b.restrict_public_buckets)
                    && matches!(&policy, BucketPolicy::Parsed(p) if p.is_public());
                Some(BucketAuth {
                    owner_org: record.owner,
                    policy,
                    restricted,
                })
            }
            Err(e) if *e.code() == S3ErrorCode::NoSuchBucket => None,
            Err(e) => return Err(e),
        };
        // Only what exists is cached: a miss cached across a CreateBucket would let any caller
        // past the check of the bucket that was just created.
        if let (Some(auth), Ok(mut b)) = (&found, self.buckets.lock()) {
            b.insert(name.to_owned(), (Instant::now(), Some(auth.clone())));
        }
        Ok(found)
    }

    /// Refuses a request that states an owner `bucket` does not have (`expected_owner`). The
    /// owner is read afresh, not from the cache: the guard is against a bucket that changed
    /// hands. A bucket that does not exist is left to the operation (NoSuchBucket).
    pub async fn expect_owner(&self, bucket: &str, expected: &str) -> S3Result<()> {
        match self.store.bucket(bucket).await {
            Ok(record) if !expected_owner::owned_by(&record.owner, expected) => Err(denied()),
            Err(e) if *e.code() != S3ErrorCode::NoSuchBucket => Err(e),
            _ => Ok(()),
        }
    }

    /// Resolves the key of a signed request (s3s verified the signature with its secret).
    pub async fn caller(&self, access_key: Option<&str>) -> S3Result<Option<Identity>> {
        match access_key {
            None => Ok(None),
            Some(k) => Ok(self.identities.resolve(k).await?.map(|(id, _)| id)),
        }
    }

    /// Decides one permission.
    pub async fn authorize(
        &self,
        caller: Option<&Identity>,
        need: &Needed,
        facts_of: &FactsOf<'_>,
    ) -> S3Result<()> {
        if caller.is_some_and(|c| c.root) {
            return Ok(());
        }
        if let Some(scope) = caller.and_then(|c| c.scope.as_ref()) {
            let mode_ok = match scope.access {
                AccessMode::ReadWrite => true,
                AccessMode::ReadOnly => need.is_read(),
                AccessMode::WriteOnly => !need.is_read(),
            };
            if scope.bucket != need.bucket || !need.is_object_data() || !mode_ok {
                return Err(denied());
            }
        }
        // CreateBucket is the caller's own action, not one on the bucket of that name: a name
        // another org holds is the operation's `409 BucketAlreadyExists`, as on AWS, not a
        // refusal by that bucket's policy.
        if need.action == "s3:CreateBucket" && caller.is_some() {
            return Ok(());
        }
        let Some(bucket) = self.bucket(&need.bucket).await? else {
            // No such bucket: the operation answers NoSuchBucket (and CreateBucket creates it).
            // AWS tells anonymous callers the same, rather than 403.
            return if caller.is_some() {
                Ok(())
            } else {
                Err(no_such_bucket(&need.bucket))
            };
        };
        let same_org = caller.is_some_and(|c| c.org == bucket.owner_org);
        let policy = match &bucket.policy {
            BucketPolicy::Parsed(policy) => policy,
            BucketPolicy::None if same_org => return Ok(()),
            BucketPolicy::Unreadable if same_org && POLICY_REPAIR.contains(&need.action) => return Ok(()),
            BucketPolicy::None | BucketPolicy::Unreadable => return Err(denied()),
        };
        if bucket.restricted && !same_org {
            return Err(denied());
        }
        let mut facts = Facts::new(
            caller,
            facts_of.source,
            facts_of.transport,
            facts_of.query,
            facts_of.headers,
        );
        if let Some(tags) = facts_of.body_tags {
            facts.set_request_tags(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if policy.mentions_condition_key("s3:ExistingObjectTag/")
            && let Some(key) = &need.key
            && let Ok(head) = self.store.head_object(&need.bucket, key, None).await
        {
            for (k, v) in &head.tags {
                facts
                    .values
                    .insert(normalize(&format!("s3:ExistingObjectTag/{k}")), vec![v.clone()]);
            }
        }
        let principal = match caller {
            Some(c) => Principal::User {
                org: &c.org,
                name: &c.user,
            },
            None => Principal::Anonymous,
        };
        let arn = need.arn();
        let request = Request {
            principal,
            action: need.action,
            resource: &arn,
            context: &facts,
        };
        match policy.evaluate(&request) {
            Decision::Deny => Err(denied()),
            Decision::Allow => Ok(()),
            Decision::NotApplicable if same_org => Ok(()),
            Decision::NotApplicable => Err(denied()),
        }
    }
}

/// What condition keys are computed from.
pub struct FactsOf<'a> {
    pub source: Option<SocketAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub transport: Transport,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    /// Tags a request sets in its body (PutObjectTagging), for `s3:RequestObjectTag/<key>`;
    /// those of `x-amz-tagging` come from the headers.
    pub body_tags: Option<&'a [(String, String)]>,
}

fn source_of(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// What a per-operation hook decides with: the caller `check` resolved, and the request's facts
/// (`body_tags` when the operation carries tags in its body).
fn hook_context<'a, T>(
    req: &'a S3Request<T>,
    body_tags: Option<&'a [(String, String)]>,
) -> (Option<Identity>, FactsOf<'a>) {
    let caller = req.extensions.get::<Caller>().and_then(|c| c.0.clone());
    let facts_of = FactsOf {
        source: source_of(&req.extensions),
        transport: Transport::of(&req.extensions),
        query: req.uri.query(),
        headers: &req.headers,
        body_tags,
    };
    (caller, facts_of)
}

/// The s3s access hook, over a shared [`Access`] (also used by the rename route and the admin
/// of policies).
pub struct AccessCheck(pub Arc<Access>);

#[async_trait::async_trait]
impl S3Access for AccessCheck {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let access_key = match cx.extensions_mut().get::<ProvenCaller>() {
            Some(proven) => proven.0.clone(),
            None => cx.credentials().map(|c| c.access_key.clone()),
        };
        let caller = self.0.caller(access_key.as_deref()).await?;
        let op = cx.s3_op().name().to_owned();
        let op = op.as_str();
        let source = source_of(cx.extensions_mut());
        let transport = Transport::of(cx.extensions_mut());
        let wants = needed(op, cx.s3_path(), cx.headers(), cx.uri().query());
        if matches!(op, "ListBuckets" | "CreateBucket") && caller.is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Anonymous users cannot perform this operation",
            ));
        }
        let facts_of = FactsOf {
            source,
            transport,
            query: cx.uri().query(),
            headers: cx.headers(),
            body_tags: None,
        };
        let reads_key = missing_key::READS.contains(&op);
        for need in &wants {
            if let Err(refusal) = self.0.authorize(caller.as_ref(), need, &facts_of).await {
                if reads_key {
                    return Err(self
                        .0
                        .refused_read(caller.as_ref(), need, &facts_of, refusal)
                        .await?);
                }
                return Err(refusal);
            }
        }
        let may_list = match (reads_key, cx.s3_path()) {
            (true, S3Path::Object { bucket, key }) => Some(MayList(
                self.0
                    .may_list_under(caller.as_ref(), bucket, key, &facts_of)
                    .await?,
            )),
            _ => None,
        };
        if let Some(expected) = expected_owner::stated(cx.headers(), expected_owner::HEADER)
            && let S3Path::Bucket { bucket } | S3Path::Object { bucket, .. } = cx.s3_path()
        {
            self.0.expect_owner(bucket, expected).await?;
        }
        if let Some(expected) = expected_owner::stated(cx.headers(), expected_owner::SOURCE_HEADER)
            && let Some((bucket, _)) = copy_source(cx.headers())
        {
            self.0.expect_owner(&bucket, expected).await?;
        }
        if let Some(probe) = cx.extensions_mut().get::<ReplayProbe>() {
            probe.prove(access_key);
            return Err(S3Error::with_message(
                S3ErrorCode::InternalError,
                "verified for a replay; never answered",
            ));
        }
        if let Some(may_list) = may_list {
            cx.extensions_mut().insert(may_list);
        }
        cx.extensions_mut().insert(Caller(caller));
        Ok(())
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        let (caller, facts_of) = hook_context(req, None);
        for obj in &req.input.delete.objects {
            let mut actions = vec!["s3:DeleteObject"];
            if obj.version_id.is_some() {
                actions.push("s3:DeleteObjectVersion");
            }
            // As for DeleteObject's If-Match: a delete conditional on the ETag reveals it.
            if obj.e_tag.is_some() {
                actions.push("s3:GetObject");
            }
            for action in actions {
                let need = Needed {
                    action,
                    bucket: req.input.bucket.clone(),
                    key: Some(obj.key.clone()),
                };
                self.0.authorize(caller.as_ref(), &need, &facts_of).await?;
            }
        }
        Ok(())
    }

    /// A POST form's key is in its body (and may name the file, `${filename}`): its upload is
    /// authorized here as a PutObject of the key it resolves to, once s3s has read the form.
    async fn post_object(&self, req: &mut S3Request<PostObjectInput>) -> S3Result<()> {
        refuse_signature_v2(req.credentials.is_some(), req.region.as_ref())?;
        req.input.key = form_key(&req.input.key, req.extensions.get::<FormFileName>())?;
        let (caller, facts_of) = hook_context(req, None);
        let need = Needed {
            action: "s3:PutObject",
            bucket: req.input.bucket.clone(),
            key: Some(req.input.key.clone()),
        };
        self.0.authorize(caller.as_ref(), &need, &facts_of).await
    }

    /// PutObjectTagging's tags are in its body: `s3:RequestObjectTag/...` is decided here,
    /// once s3s has parsed it.
    async fn put_object_tagging(&self, req: &mut S3Request<PutObjectTaggingInput>) -> S3Result<()> {
        let tags: Vec<(String, String)> = req
            .input
            .tagging
            .tag_set
            .iter()
            .map(|t| {
                (
                    t.key.clone().unwrap_or_default(),
                    t.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        let (caller, facts_of) = hook_context(req, Some(&tags));
        let need = Needed {
            action: "s3:PutObjectTagging",
            bucket: req.input.bucket.clone(),
            key: Some(req.input.key.clone()),
        };
        self.0.authorize(caller.as_ref(), &need, &facts_of).await
    }
}

/// The S3Auth side: secrets of the keys the store knows.
pub struct KeyLookup(pub Arc<Identities>);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for KeyLookup {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        match self.0.resolve(access_key).await? {
            Some((_, secret)) => Ok(s3s::auth::SecretKey::from(secret)),
            None => Err(S3Error::with_message(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            )),
        }
    }
}
