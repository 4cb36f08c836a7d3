//! Table-driven specification of policy parsing and evaluation.
//!
//! Each table row is one behaviour; a failing run lists every row that disagrees.

use std::cell::Cell;

use super::{Context, Decision, Policy, Principal, Request};

const BUCKET: &str = "b";
const ALICE: Principal<'static> = Principal::User {
    org: "org-a",
    name: "alice",
};
const BOB: Principal<'static> = Principal::User {
    org: "org-a",
    name: "bob",
};
const CAROL: Principal<'static> = Principal::User {
    org: "org-b",
    name: "carol",
};
const DAVE: Principal<'static> = Principal::User {
    org: "org-b",
    name: "dave",
};
/// Same user name as Carol, different org.
const CAROL_OF_ORG_A: Principal<'static> = Principal::User {
    org: "org-a",
    name: "carol",
};
const ANONYMOUS: Principal<'static> = Principal::Anonymous;

const BUCKET_ARN: &str = "arn:aws:s3:::b";
const OBJECT: &str = "arn:aws:s3:::b/photos/cat.jpg";

/// Condition values keyed case-insensitively, as the gateway's context is. Deliberately knows
/// nothing of the `cw:` alias, so alias tests prove the policy normalised the key.
struct Values(&'static [(&'static str, &'static [&'static str])]);

impl Context for Values {
    fn values(&self, key: &str) -> Option<Vec<String>> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, vs)| vs.iter().map(|v| (*v).to_owned()).collect())
    }
}

const NO_VALUES: Values = Values(&[]);

fn parse(document: &str) -> Policy {
    Policy::parse(document, BUCKET).unwrap_or_else(|e| panic!("policy should parse: {e}\n{document}"))
}

fn decide(
    policy: &Policy,
    principal: Principal<'_>,
    action: &str,
    resource: &str,
    context: &Values,
) -> Decision {
    policy.evaluate(&Request {
        principal,
        action,
        resource,
        context,
    })
}

/// A one-statement policy from raw JSON fragments for Principal, Action and Resource.
fn allow(principal: &str, action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":{action},"Resource":{resource}}}]}}"#
    )
}

fn statements(statements: &[&str]) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

struct Case {
    name: &'static str,
    policy: String,
    principal: Principal<'static>,
    action: &'static str,
    resource: &'static str,
    context: Values,
    expect: Decision,
}

fn case(
    name: &'static str,
    policy: String,
    principal: Principal<'static>,
    action: &'static str,
    resource: &'static str,
    expect: Decision,
) -> Case {
    Case {
        name,
        policy,
        principal,
        action,
        resource,
        context: NO_VALUES,
        expect,
    }
}

fn check_all(cases: Vec<Case>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let got = decide(&parse(&c.policy), c.principal, c.action, c.resource, &c.context);
            (got != c.expect).then(|| format!("{}: expected {:?}, got {:?}", c.name, c.expect, got))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

use Decision::{Allow, Deny, NotApplicable};

#[test]
fn action_wildcards() {
    let get_star = || allow(r#""*""#, r#""s3:Get*""#, r#""arn:aws:s3:::b/*""#);
    check_all(vec![
        case(
            "s3:Get* matches GetObject",
            get_star(),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "s3:Get* matches GetObjectTagging",
            get_star(),
            ALICE,
            "s3:GetObjectTagging",
            OBJECT,
            Allow,
        ),
        case(
            "s3:Get* does not match PutObject",
            get_star(),
            ALICE,
            "s3:PutObject",
            OBJECT,
            NotApplicable,
        ),
        case(
            "s3:* matches DeleteObject",
            allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::b/*""#),
            ALICE,
            "s3:DeleteObject",
            OBJECT,
            Allow,
        ),
        case(
            "* matches any action",
            allow(r#""*""#, r#""*""#, r#""arn:aws:s3:::b""#),
            ALICE,
            "s3:ListBucket",
            BUCKET_ARN,
            Allow,
        ),
        case(
            "actions compare case-insensitively",
            allow(r#""*""#, r#""S3:getobject""#, r#""arn:aws:s3:::b/*""#),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "? matches one character of an action",
            allow(r#""*""#, r#""s3:?etObject""#, r#""arn:aws:s3:::b/*""#),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "an exact action is not a prefix",
            allow(r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::b/*""#),
            ALICE,
            "s3:GetObjectTagging",
            OBJECT,
            NotApplicable,
        ),
        case(
            "any action of a list matches",
            allow(
                r#""*""#,
                r#"["s3:PutObject","s3:DeleteObject"]"#,
                r#""arn:aws:s3:::b/*""#,
            ),
            ALICE,
            "s3:DeleteObject",
            OBJECT,
            Allow,
        ),
    ]);
}

#[test]
fn resource_wildcards() {
    let logs = || allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::b/logs/*""#);
    let file_q = || allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::b/file?.txt""#);
    let bucket_only = || allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::b""#);
    check_all(vec![
        case(
            "prefix/* matches a deep key",
            logs(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/logs/2025/01/x.log",
            Allow,
        ),
        case(
            "prefix/* matches the prefix itself",
            logs(),
            ALICE,
            "s3:PutObject",
            "arn:aws:s3:::b/logs/",
            Allow,
        ),
        case(
            "prefix/* does not match a sibling",
            logs(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/other/x",
            NotApplicable,
        ),
        case(
            "prefix/* does not match the bucket",
            logs(),
            ALICE,
            "s3:ListBucket",
            BUCKET_ARN,
            NotApplicable,
        ),
        case(
            "resources compare case-sensitively",
            logs(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/Logs/x.log",
            NotApplicable,
        ),
        case(
            "? matches one character",
            file_q(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/file1.txt",
            Allow,
        ),
        case(
            "? matches exactly one character",
            file_q(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/file10.txt",
            NotApplicable,
        ),
        case(
            "? matches one non-ASCII character",
            file_q(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/fileé.txt",
            Allow,
        ),
        case(
            "a * in the middle spans slashes",
            allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::b/*/report.csv""#),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/2025/01/report.csv",
            Allow,
        ),
        case(
            "the bucket ARN matches the bucket",
            bucket_only(),
            ALICE,
            "s3:ListBucket",
            BUCKET_ARN,
            Allow,
        ),
        case(
            "the bucket ARN does not match its objects",
            bucket_only(),
            ALICE,
            "s3:GetObject",
            OBJECT,
            NotApplicable,
        ),
    ]);
}

#[test]
fn not_elements() {
    let not_action = || {
        statements(&[
            r#"{"Effect":"Allow","Principal":"*","NotAction":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}"#,
        ])
    };
    let not_resource = || {
        statements(&[
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/private/*"}"#,
        ])
    };
    let only_org_a = || {
        statements(&[
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#,
            r#"{"Effect":"Deny","NotPrincipal":{"AWS":"org-a"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}"#,
        ])
    };
    let only_alice_deletes = || {
        statements(&[
            r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::org-a:user/alice"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}"#,
        ])
    };
    check_all(vec![
        case(
            "NotAction allows other actions",
            not_action(),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "NotAction excludes the listed action",
            not_action(),
            ALICE,
            "s3:DeleteObject",
            OBJECT,
            NotApplicable,
        ),
        case(
            "NotResource allows other resources",
            not_resource(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/public/x",
            Allow,
        ),
        case(
            "NotResource excludes the listed resources",
            not_resource(),
            ALICE,
            "s3:GetObject",
            "arn:aws:s3:::b/private/x",
            NotApplicable,
        ),
        case(
            "NotPrincipal spares the named org",
            only_org_a(),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "NotPrincipal applies to other orgs",
            only_org_a(),
            CAROL,
            "s3:GetObject",
            OBJECT,
            Deny,
        ),
        case(
            "NotPrincipal applies to anonymous",
            only_org_a(),
            ANONYMOUS,
            "s3:GetObject",
            OBJECT,
            Deny,
        ),
        case(
            "NotPrincipal spares the named user",
            only_alice_deletes(),
            ALICE,
            "s3:DeleteObject",
            OBJECT,
            NotApplicable,
        ),
        case(
            "NotPrincipal applies to the user's colleagues",
            only_alice_deletes(),
            BOB,
            "s3:DeleteObject",
            OBJECT,
            Deny,
        ),
    ]);
}

#[test]
fn principals() {
    let to = |principal: &str| allow(principal, r#""s3:GetObject""#, r#""arn:aws:s3:::b/*""#);
    check_all(vec![
        case(
            "* matches anonymous",
            to(r#""*""#),
            ANONYMOUS,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "* matches any user",
            to(r#""*""#),
            CAROL,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "AWS * matches anonymous",
            to(r#"{"AWS":"*"}"#),
            ANONYMOUS,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "AWS [*] matches anonymous",
            to(r#"{"AWS":["*"]}"#),
            ANONYMOUS,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "an org id matches its users",
            to(r#"{"AWS":"org-b"}"#),
            DAVE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "an org id does not match other orgs",
            to(r#"{"AWS":"org-b"}"#),
            ALICE,
            "s3:GetObject",
            OBJECT,
            NotApplicable,
        ),
        case(
            "an org id does not match anonymous",
            to(r#"{"AWS":"org-b"}"#),
            ANONYMOUS,
            "s3:GetObject",
            OBJECT,
            NotApplicable,
        ),
        case(
            "an org root ARN matches the whole org",
            to(r#"{"AWS":"arn:aws:iam::org-b:root"}"#),
            CAROL,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "a user ARN matches that user",
            to(r#"{"AWS":"arn:aws:iam::org-b:user/carol"}"#),
            CAROL,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "a user ARN does not match a colleague",
            to(r#"{"AWS":"arn:aws:iam::org-b:user/carol"}"#),
            DAVE,
            "s3:GetObject",
            OBJECT,
            NotApplicable,
        ),
        case(
            "a user ARN does not match the same name in another org",
            to(r#"{"AWS":"arn:aws:iam::org-b:user/carol"}"#),
            CAROL_OF_ORG_A,
            "s3:GetObject",
            OBJECT,
            NotApplicable,
        ),
        case(
            "any principal of a list matches",
            to(r#"{"AWS":["arn:aws:iam::org-a:user/alice","org-b"]}"#),
            DAVE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
    ]);
}

#[test]
fn deny_overrides_allow() {
    let allow_all = r#"{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}"#;
    let deny_delete =
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}"#;
    let deny_org_b =
        r#"{"Effect":"Deny","Principal":{"AWS":"org-b"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}"#;
    let deny_insecure = r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}"#;
    let secure = Values(&[("aws:SecureTransport", &["true"])]);
    let insecure = Values(&[("aws:SecureTransport", &["false"])]);
    check_all(vec![
        case(
            "Deny beats Allow",
            statements(&[allow_all, deny_delete]),
            ALICE,
            "s3:DeleteObject",
            OBJECT,
            Deny,
        ),
        case(
            "Deny beats Allow in any order",
            statements(&[deny_delete, allow_all]),
            ALICE,
            "s3:DeleteObject",
            OBJECT,
            Deny,
        ),
        case(
            "Allow stands where Deny does not apply",
            statements(&[deny_delete, allow_all]),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "a Deny for another org leaves Allow",
            statements(&[allow_all, deny_org_b]),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "a Deny for the caller's org applies",
            statements(&[allow_all, deny_org_b]),
            CAROL,
            "s3:GetObject",
            OBJECT,
            Deny,
        ),
        Case {
            context: secure,
            ..case(
                "a Deny whose condition fails leaves Allow",
                statements(&[allow_all, deny_insecure]),
                ALICE,
                "s3:GetObject",
                OBJECT,
                Allow,
            )
        },
        Case {
            context: insecure,
            ..case(
                "a Deny whose condition holds applies",
                statements(&[allow_all, deny_insecure]),
                ALICE,
                "s3:GetObject",
                OBJECT,
                Deny,
            )
        },
        case(
            "Deny alone denies",
            statements(&[deny_delete]),
            ANONYMOUS,
            "s3:DeleteObject",
            OBJECT,
            Deny,
        ),
        case(
            "no matching statement is not applicable",
            statements(&[deny_delete]),
            ALICE,
            "s3:GetObject",
            OBJECT,
            NotApplicable,
        ),
    ]);
}

/// The example of seed 004, verbatim apart from the org id: anyone may rename (PutObject +
/// DeleteObject) within `my-bucket`, provided they belong to the org.
const SEED_004_EXAMPLE: &str = r#"{
"policy": {
"version": "v1alpha1",
"name": "allow-rename-object-within-bucket",
"Statement": [
{
"name": "AllowRenameObjectWithinBucket",
"effect": "Allow",
"principals": ["*"],
"actions": ["s3:PutObject", "s3:DeleteObject"],
"resources": ["my-bucket/*"],
"conditions": {
"StringEquals": {
"cw:PrincipalOrgID": ["org-a"]
}
}
}
]
}
}"#;

/// The same policy in AWS's shape.
const SEED_004_AS_AWS: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowRenameObjectWithinBucket",
"Effect":"Allow","Principal":"*","Action":["s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::my-bucket/*"],
"Condition":{"StringEquals":{"aws:PrincipalOrgID":"org-a"}}}]}"#;

#[test]
fn seed_004_example_scopes_rename_permissions_to_the_org() {
    const SOURCE: &str = "arn:aws:s3:::my-bucket/ckpt/epoch-10.ckpt.tmp";
    const DESTINATION: &str = "arn:aws:s3:::my-bucket/ckpt/epoch-10.ckpt";
    let in_org_a = Values(&[("aws:PrincipalOrgID", &["org-a"])]);
    let in_org_b = Values(&[("aws:PrincipalOrgID", &["org-b"])]);
    let rows: [(&str, Principal<'_>, &str, &str, &Values, Decision); 6] = [
        (
            "org member may put the destination",
            ALICE,
            "s3:PutObject",
            DESTINATION,
            &in_org_a,
            Allow,
        ),
        (
            "org member may delete the source",
            BOB,
            "s3:DeleteObject",
            SOURCE,
            &in_org_a,
            Allow,
        ),
        (
            "org member gains no read",
            ALICE,
            "s3:GetObject",
            SOURCE,
            &in_org_a,
            NotApplicable,
        ),
        (
            "another org gains nothing",
            CAROL,
            "s3:PutObject",
            DESTINATION,
            &in_org_b,
            NotApplicable,
        ),
        (
            "anonymous gains nothing",
            ANONYMOUS,
            "s3:DeleteObject",
            SOURCE,
            &NO_VALUES,
            NotApplicable,
        ),
        (
            "other buckets are out of scope",
            ALICE,
            "s3:PutObject",
            "arn:aws:s3:::other/x",
            &in_org_a,
            NotApplicable,
        ),
    ];
    let seed = Policy::parse(SEED_004_EXAMPLE, "my-bucket").expect("seed 004 example parses");
    let aws = Policy::parse(SEED_004_AS_AWS, "my-bucket").expect("AWS translation parses");
    assert_eq!(seed.statement_count(), 1);
    let mut failures = Vec::new();
    for (name, principal, action, resource, context, expect) in rows {
        for (shape, policy) in [("seed shape", &seed), ("AWS shape", &aws)] {
            let got = decide(policy, principal, action, resource, context);
            if got != expect {
                failures.push(format!("{name} ({shape}): expected {expect:?}, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn seed_shape_accepts_unwrapped_documents_and_full_arns() {
    let policy = Policy::parse(
        r#"{"version":"v1alpha1","name":"p","Statement":[{"name":"s","effect":"Deny",
            "principals":["arn:aws:iam::org-b:root"],"actions":"s3:*","resources":["arn:aws:s3:::b","b/*"]}]}"#,
        BUCKET,
    )
    .expect("parses");
    assert_eq!(
        decide(&policy, CAROL, "s3:ListBucket", BUCKET_ARN, &NO_VALUES),
        Deny
    );
    assert_eq!(decide(&policy, CAROL, "s3:GetObject", OBJECT, &NO_VALUES), Deny);
    assert_eq!(
        decide(&policy, ALICE, "s3:GetObject", OBJECT, &NO_VALUES),
        NotApplicable
    );
}

/// (name, Condition block, request values, whether the condition holds).
type ConditionCase = (&'static str, &'static str, Values, bool);

fn check_conditions(cases: Vec<ConditionCase>) {
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, condition, context, holds)| {
            let policy = parse(&statements(&[&format!(
                r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{condition}}}"#
            )]));
            let expect = if holds { Allow } else { NotApplicable };
            let got = decide(&policy, ALICE, "s3:GetObject", OBJECT, &context);
            (got != expect).then(|| format!("{name}: expected {expect:?}, got {got:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn string_operators() {
    const EQ: &str = r#"{"StringEquals":{"s3:prefix":"home/"}}"#;
    const EQ_ANY: &str = r#"{"StringEquals":{"s3:prefix":["tmp/","home/"]}}"#;
    const NE: &str = r#"{"StringNotEquals":{"s3:prefix":["tmp/","cache/"]}}"#;
    const EQ_IC: &str =
        r#"{"StringEqualsIgnoreCase":{"s3:x-amz-server-side-encryption-customer-algorithm":"AES256"}}"#;
    const NE_IC: &str =
        r#"{"StringNotEqualsIgnoreCase":{"s3:x-amz-server-side-encryption-customer-algorithm":"AES256"}}"#;
    const LIKE: &str = r#"{"StringLike":{"s3:prefix":["home/*","shared/?"]}}"#;
    const NOT_LIKE: &str = r#"{"StringNotLike":{"s3:prefix":"tmp/*"}}"#;
    check_conditions(vec![
        (
            "StringEquals matches",
            EQ,
            Values(&[("s3:prefix", &["home/"])]),
            true,
        ),
        (
            "StringEquals is case-sensitive",
            EQ,
            Values(&[("s3:prefix", &["Home/"])]),
            false,
        ),
        ("StringEquals on a missing key is false", EQ, NO_VALUES, false),
        (
            "StringEquals ORs its values",
            EQ_ANY,
            Values(&[("s3:prefix", &["home/"])]),
            true,
        ),
        (
            "StringEquals matches an empty string",
            r#"{"StringEquals":{"s3:prefix":""}}"#,
            Values(&[("s3:prefix", &[""])]),
            true,
        ),
        (
            "StringNotEquals holds for other values",
            NE,
            Values(&[("s3:prefix", &["home/"])]),
            true,
        ),
        (
            "StringNotEquals NORs its values",
            NE,
            Values(&[("s3:prefix", &["cache/"])]),
            false,
        ),
        ("StringNotEquals on a missing key is true", NE, NO_VALUES, true),
        (
            "StringEqualsIgnoreCase ignores case",
            EQ_IC,
            Values(&[("s3:x-amz-server-side-encryption-customer-algorithm", &["aes256"])]),
            true,
        ),
        (
            "StringEqualsIgnoreCase still compares",
            EQ_IC,
            Values(&[("s3:x-amz-server-side-encryption-customer-algorithm", &["aes128"])]),
            false,
        ),
        (
            "StringNotEqualsIgnoreCase rejects a case variant",
            NE_IC,
            Values(&[("s3:x-amz-server-side-encryption-customer-algorithm", &["Aes256"])]),
            false,
        ),
        (
            "StringNotEqualsIgnoreCase holds for other values",
            NE_IC,
            Values(&[("s3:x-amz-server-side-encryption-customer-algorithm", &["none"])]),
            true,
        ),
        (
            "StringLike matches *",
            LIKE,
            Values(&[("s3:prefix", &["home/alice/docs/"])]),
            true,
        ),
        (
            "StringLike matches ?",
            LIKE,
            Values(&[("s3:prefix", &["shared/x"])]),
            true,
        ),
        (
            "StringLike needs a match",
            LIKE,
            Values(&[("s3:prefix", &["tmp/"])]),
            false,
        ),
        (
            "StringLike is case-sensitive",
            LIKE,
            Values(&[("s3:prefix", &["HOME/x"])]),
            false,
        ),
        (
            "StringNotLike holds for non-matching values",
            NOT_LIKE,
            Values(&[("s3:prefix", &["home/"])]),
            true,
        ),
        (
            "StringNotLike fails for matching values",
            NOT_LIKE,
            Values(&[("s3:prefix", &["tmp/x"])]),
            false,
        ),
        (
            "StringNotLike on a missing key is true",
            NOT_LIKE,
            NO_VALUES,
            true,
        ),
    ]);
}

#[test]
fn numeric_operators() {
    const LT: &str = r#"{"NumericLessThan":{"s3:max-keys":"100"}}"#;
    const NE: &str = r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#;
    check_conditions(vec![
        (
            "NumericLessThan below",
            LT,
            Values(&[("s3:max-keys", &["10"])]),
            true,
        ),
        (
            "NumericLessThan at the bound",
            LT,
            Values(&[("s3:max-keys", &["100"])]),
            false,
        ),
        ("NumericLessThan on a missing key is false", LT, NO_VALUES, false),
        (
            "NumericLessThan ignores a non-number",
            LT,
            Values(&[("s3:max-keys", &["many"])]),
            false,
        ),
        (
            "JSON numbers are accepted",
            r#"{"NumericLessThan":{"s3:max-keys":100}}"#,
            Values(&[("s3:max-keys", &["99"])]),
            true,
        ),
        (
            "NumericLessThanEquals at the bound",
            r#"{"NumericLessThanEquals":{"s3:max-keys":"100"}}"#,
            Values(&[("s3:max-keys", &["100"])]),
            true,
        ),
        (
            "NumericLessThanEquals above",
            r#"{"NumericLessThanEquals":{"s3:max-keys":"100"}}"#,
            Values(&[("s3:max-keys", &["101"])]),
            false,
        ),
        (
            "NumericGreaterThan above",
            r#"{"NumericGreaterThan":{"s3:max-keys":"10"}}"#,
            Values(&[("s3:max-keys", &["11"])]),
            true,
        ),
        (
            "NumericGreaterThan at the bound",
            r#"{"NumericGreaterThan":{"s3:max-keys":"10"}}"#,
            Values(&[("s3:max-keys", &["10"])]),
            false,
        ),
        (
            "NumericGreaterThanEquals at the bound",
            r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#,
            Values(&[("s3:max-keys", &["10"])]),
            true,
        ),
        (
            "NumericGreaterThanEquals below",
            r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#,
            Values(&[("s3:max-keys", &["9"])]),
            false,
        ),
        (
            "NumericEquals compares values, not text",
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            Values(&[("s3:max-keys", &["10.0"])]),
            true,
        ),
        (
            "NumericEquals differs",
            r#"{"NumericEquals":{"s3:max-keys":"10"}}"#,
            Values(&[("s3:max-keys", &["11"])]),
            false,
        ),
        (
            "NumericNotEquals differs",
            NE,
            Values(&[("s3:max-keys", &["11"])]),
            true,
        ),
        (
            "NumericNotEquals equal",
            NE,
            Values(&[("s3:max-keys", &["10"])]),
            false,
        ),
        ("NumericNotEquals on a missing key is true", NE, NO_VALUES, true),
    ]);
}

#[test]
fn date_operators() {
    const BEFORE_2030: &str = r#"{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#;
    const NOW: Values = Values(&[("aws:CurrentTime", &["2025-06-01T12:00:00Z"])]);
    const NOW_EPOCH: Values = Values(&[("aws:EpochTime", &["1700000000"])]);
    check_conditions(vec![
        ("DateLessThan before", BEFORE_2030, NOW, true),
        (
            "DateLessThan after",
            BEFORE_2030,
            Values(&[("aws:CurrentTime", &["2031-01-01T00:00:00Z"])]),
            false,
        ),
        (
            "DateLessThan on a missing key is false",
            BEFORE_2030,
            NO_VALUES,
            false,
        ),
        (
            "DateGreaterThan after",
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2025-01-01T00:00:00Z"}}"#,
            NOW,
            true,
        ),
        (
            "DateGreaterThan before",
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
            NOW,
            false,
        ),
        (
            "DateLessThanEquals at the bound",
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2025-06-01T12:00:00Z"}}"#,
            NOW,
            true,
        ),
        (
            "DateGreaterThanEquals at the bound",
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2025-06-01T12:00:00Z"}}"#,
            NOW,
            true,
        ),
        (
            "DateEquals honours offsets",
            r#"{"DateEquals":{"aws:CurrentTime":"2025-06-01T14:00:00+02:00"}}"#,
            NOW,
            true,
        ),
        (
            "DateEquals on a bare date means midnight UTC",
            r#"{"DateEquals":{"aws:CurrentTime":"2025-06-01"}}"#,
            Values(&[("aws:CurrentTime", &["2025-06-01T00:00:00Z"])]),
            true,
        ),
        (
            "DateEquals compares epoch seconds",
            r#"{"DateEquals":{"aws:EpochTime":"1700000000"}}"#,
            NOW_EPOCH,
            true,
        ),
        (
            "DateEquals compares ISO 8601 with epoch",
            r#"{"DateEquals":{"aws:EpochTime":"2023-11-14T22:13:20Z"}}"#,
            NOW_EPOCH,
            true,
        ),
        (
            "DateNotEquals equal",
            r#"{"DateNotEquals":{"aws:EpochTime":"1700000000"}}"#,
            NOW_EPOCH,
            false,
        ),
        (
            "DateNotEquals differs",
            r#"{"DateNotEquals":{"aws:EpochTime":"1700000001"}}"#,
            NOW_EPOCH,
            true,
        ),
    ]);
}

#[test]
fn bool_ip_and_null_operators() {
    const SECURE: &str = r#"{"Bool":{"aws:SecureTransport":"true"}}"#;
    const TEN: &str = r#"{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32","192.0.2.7"]}}"#;
    const NOT_TEN: &str = r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#;
    const NO_PREFIX: &str = r#"{"Null":{"s3:prefix":"true"}}"#;
    const HAS_PREFIX: &str = r#"{"Null":{"s3:prefix":"false"}}"#;
    check_conditions(vec![
        (
            "Bool true",
            SECURE,
            Values(&[("aws:SecureTransport", &["true"])]),
            true,
        ),
        (
            "Bool false",
            SECURE,
            Values(&[("aws:SecureTransport", &["false"])]),
            false,
        ),
        (
            "Bool is case-insensitive",
            SECURE,
            Values(&[("aws:SecureTransport", &["TRUE"])]),
            true,
        ),
        ("Bool on a missing key is false", SECURE, NO_VALUES, false),
        (
            "Bool accepts a JSON boolean",
            r#"{"Bool":{"aws:SecureTransport":false}}"#,
            Values(&[("aws:SecureTransport", &["false"])]),
            true,
        ),
        (
            "IpAddress inside a v4 block",
            TEN,
            Values(&[("aws:SourceIp", &["10.1.2.3"])]),
            true,
        ),
        (
            "IpAddress outside every block",
            TEN,
            Values(&[("aws:SourceIp", &["11.0.0.1"])]),
            false,
        ),
        (
            "IpAddress matches a single address",
            TEN,
            Values(&[("aws:SourceIp", &["192.0.2.7"])]),
            true,
        ),
        (
            "IpAddress inside a v6 block",
            TEN,
            Values(&[("aws:SourceIp", &["2001:db8::1"])]),
            true,
        ),
        (
            "IpAddress outside a v6 block",
            TEN,
            Values(&[("aws:SourceIp", &["2001:db9::1"])]),
            false,
        ),
        ("IpAddress on a missing key is false", TEN, NO_VALUES, false),
        (
            "NotIpAddress outside",
            NOT_TEN,
            Values(&[("aws:SourceIp", &["192.168.1.1"])]),
            true,
        ),
        (
            "NotIpAddress inside",
            NOT_TEN,
            Values(&[("aws:SourceIp", &["10.0.0.1"])]),
            false,
        ),
        ("NotIpAddress on a missing key is true", NOT_TEN, NO_VALUES, true),
        ("Null true on a missing key", NO_PREFIX, NO_VALUES, true),
        (
            "Null true on a present key",
            NO_PREFIX,
            Values(&[("s3:prefix", &["home/"])]),
            false,
        ),
        (
            "Null false on a present key",
            HAS_PREFIX,
            Values(&[("s3:prefix", &[""])]),
            true,
        ),
        ("Null false on a missing key", HAS_PREFIX, NO_VALUES, false),
    ]);
}

#[test]
fn if_exists_operators() {
    const PREFIX: &str = r#"{"StringEqualsIfExists":{"s3:prefix":"home/"}}"#;
    check_conditions(vec![
        ("IfExists holds on a missing key", PREFIX, NO_VALUES, true),
        (
            "IfExists compares a present key",
            PREFIX,
            Values(&[("s3:prefix", &["tmp/"])]),
            false,
        ),
        (
            "IfExists matches a present key",
            PREFIX,
            Values(&[("s3:prefix", &["home/"])]),
            true,
        ),
        (
            "NumericLessThanIfExists on a missing key",
            r#"{"NumericLessThanIfExists":{"s3:max-keys":"10"}}"#,
            NO_VALUES,
            true,
        ),
        (
            "BoolIfExists on a missing key",
            r#"{"BoolIfExists":{"aws:SecureTransport":"true"}}"#,
            NO_VALUES,
            true,
        ),
        (
            "IpAddressIfExists on a missing key",
            r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            NO_VALUES,
            true,
        ),
        (
            "IpAddressIfExists outside",
            r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            Values(&[("aws:SourceIp", &["8.8.8.8"])]),
            false,
        ),
        (
            "DateLessThanIfExists on a missing key",
            r#"{"DateLessThanIfExists":{"aws:CurrentTime":"2020-01-01"}}"#,
            NO_VALUES,
            true,
        ),
        (
            "StringNotLikeIfExists on a present match",
            r#"{"StringNotLikeIfExists":{"s3:prefix":"tmp/*"}}"#,
            Values(&[("s3:prefix", &["tmp/a"])]),
            false,
        ),
    ]);
}

#[test]
fn set_operators() {
    const TAG: &str = "s3:ExistingObjectTag/team";
    const ANY: &str = r#"{"ForAnyValue:StringEquals":{"s3:ExistingObjectTag/team":["ml","infra"]}}"#;
    const ALL: &str = r#"{"ForAllValues:StringEquals":{"s3:ExistingObjectTag/team":["ml","infra"]}}"#;
    const ANY_NE: &str = r#"{"ForAnyValue:StringNotEquals":{"s3:ExistingObjectTag/team":"ml"}}"#;
    const ALL_NE: &str = r#"{"ForAllValues:StringNotEquals":{"s3:ExistingObjectTag/team":"ml"}}"#;
    check_conditions(vec![
        (
            "ForAnyValue with one match",
            ANY,
            Values(&[(TAG, &["web", "infra"])]),
            true,
        ),
        (
            "ForAnyValue with no match",
            ANY,
            Values(&[(TAG, &["web", "ops"])]),
            false,
        ),
        ("ForAnyValue on a missing key is false", ANY, NO_VALUES, false),
        (
            "ForAnyValue on an empty set is false",
            ANY,
            Values(&[(TAG, &[])]),
            false,
        ),
        (
            "ForAllValues with every value listed",
            ALL,
            Values(&[(TAG, &["ml", "infra"])]),
            true,
        ),
        (
            "ForAllValues with one value unlisted",
            ALL,
            Values(&[(TAG, &["ml", "web"])]),
            false,
        ),
        ("ForAllValues on a missing key is true", ALL, NO_VALUES, true),
        (
            "ForAllValues on an empty set is true",
            ALL,
            Values(&[(TAG, &[])]),
            true,
        ),
        (
            "ForAllValues:StringLike",
            r#"{"ForAllValues:StringLike":{"s3:prefix":"logs/*"}}"#,
            Values(&[("s3:prefix", &["logs/a", "logs/b/c"])]),
            true,
        ),
        (
            "ForAnyValue:StringNotEquals with one other value",
            ANY_NE,
            Values(&[(TAG, &["ml", "web"])]),
            true,
        ),
        (
            "ForAnyValue:StringNotEquals with only listed values",
            ANY_NE,
            Values(&[(TAG, &["ml"])]),
            false,
        ),
        (
            "ForAnyValue:StringNotEquals on a missing key is false",
            ANY_NE,
            NO_VALUES,
            false,
        ),
        (
            "ForAllValues:StringNotEquals with no listed value",
            ALL_NE,
            Values(&[(TAG, &["web", "ops"])]),
            true,
        ),
        (
            "ForAllValues:StringNotEquals with a listed value",
            ALL_NE,
            Values(&[(TAG, &["web", "ml"])]),
            false,
        ),
        (
            "an unqualified operator matches any request value",
            r#"{"StringEquals":{"s3:ExistingObjectTag/team":"ml"}}"#,
            Values(&[(TAG, &["web", "ml"])]),
            true,
        ),
    ]);
}

#[test]
fn condition_blocks_and_keys() {
    const TWO_KEYS: &str = r#"{"StringEquals":{"s3:prefix":"home/","s3:delimiter":"/"}}"#;
    const TWO_OPERATORS: &str =
        r#"{"StringEquals":{"s3:prefix":"home/"},"NumericLessThanEquals":{"s3:max-keys":"100"}}"#;
    check_conditions(vec![
        (
            "keys in one operator are ANDed (both hold)",
            TWO_KEYS,
            Values(&[("s3:prefix", &["home/"]), ("s3:delimiter", &["/"])]),
            true,
        ),
        (
            "keys in one operator are ANDed (one fails)",
            TWO_KEYS,
            Values(&[("s3:prefix", &["home/"]), ("s3:delimiter", &["-"])]),
            false,
        ),
        (
            "operators are ANDed (both hold)",
            TWO_OPERATORS,
            Values(&[("s3:prefix", &["home/"]), ("s3:max-keys", &["50"])]),
            true,
        ),
        (
            "operators are ANDed (one fails)",
            TWO_OPERATORS,
            Values(&[("s3:prefix", &["home/"]), ("s3:max-keys", &["500"])]),
            false,
        ),
        ("an empty Condition holds", "{}", NO_VALUES, true),
        (
            "condition keys are case-insensitive",
            r#"{"IpAddress":{"AWS:SOURCEIP":"10.0.0.0/8"}}"#,
            Values(&[("aws:SourceIp", &["10.0.0.1"])]),
            true,
        ),
        (
            "operator names are case-insensitive",
            r#"{"stringequals":{"s3:prefix":"home/"}}"#,
            Values(&[("s3:prefix", &["home/"])]),
            true,
        ),
        (
            "cw:PrincipalOrgID reads aws:PrincipalOrgID",
            r#"{"StringEquals":{"cw:PrincipalOrgID":"org-a"}}"#,
            Values(&[("aws:PrincipalOrgID", &["org-a"])]),
            true,
        ),
        (
            "aws:PrincipalOrgID compares the org",
            r#"{"StringEquals":{"aws:PrincipalOrgID":"org-a"}}"#,
            Values(&[("aws:PrincipalOrgID", &["org-b"])]),
            false,
        ),
        (
            "aws:username",
            r#"{"StringEquals":{"aws:username":"alice"}}"#,
            Values(&[("aws:username", &["alice"])]),
            true,
        ),
        (
            "s3:ExistingObjectTag",
            r#"{"StringEquals":{"s3:ExistingObjectTag/classification":"public"}}"#,
            Values(&[("s3:ExistingObjectTag/classification", &["public"])]),
            true,
        ),
    ]);
}

#[test]
fn conditions_are_not_consulted_for_statements_that_do_not_match() {
    struct Counting(Cell<usize>);
    impl Context for Counting {
        fn values(&self, _key: &str) -> Option<Vec<String>> {
            self.0.set(self.0.get() + 1);
            None
        }
    }
    let policy = parse(&statements(&[
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*","Condition":{"Null":{"s3:prefix":"true"}}}"#,
    ]));
    let context = Counting(Cell::new(0));
    let request = Request {
        principal: ALICE,
        action: "s3:GetObject",
        resource: OBJECT,
        context: &context,
    };
    assert_eq!(policy.evaluate(&request), NotApplicable);
    assert_eq!(context.0.get(), 0);
}

#[test]
fn mentions_condition_key_matches_prefixes_case_insensitively() {
    let policy = parse(&statements(&[
        r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
            "Condition":{"StringEquals":{"s3:ExistingObjectTag/secret":"yes","cw:PrincipalOrgID":"org-a"}}}"#,
    ]));
    assert!(policy.mentions_condition_key("s3:ExistingObjectTag/"));
    assert!(policy.mentions_condition_key("S3:EXISTINGOBJECTTAG/secret"));
    assert!(policy.mentions_condition_key("aws:PrincipalOrgID"));
    assert!(policy.mentions_condition_key("cw:principalorgid"));
    assert!(!policy.mentions_condition_key("aws:SourceIp"));
    assert!(!policy.mentions_condition_key("s3:ExistingObjectTag/public"));
}

#[test]
fn documents_parse_in_every_accepted_form() {
    let accepted = [
        (
            "a single statement object",
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
        ),
        (
            "the 2008 version",
            r#"{"Version":"2008-10-17","Id":"p1","Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::b"}]}"#,
        ),
        (
            "a seed-shape lower-case statement key",
            r#"{"version":"v1alpha1","statement":[{"effect":"Allow","principals":["*"],"actions":["s3:GetObject"],"resources":["b/*"]}]}"#,
        ),
    ];
    for (name, document) in accepted {
        let policy = Policy::parse(document, BUCKET).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(policy.statement_count(), 1, "{name}");
    }
    assert_eq!(parse(&statements(&[ALLOW_GET, ALLOW_GET_2])).statement_count(), 2);
}

const ALLOW_GET: &str =
    r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#;
const ALLOW_GET_2: &str =
    r#"{"Sid":"two","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}"#;

/// A statement with one element replaced by raw JSON (`Field: json`), others valid.
fn statement_with(extra: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",{extra}}}]}}"#
    )
}

fn condition(block: &str) -> String {
    statement_with(&format!(r#""Condition":{block}"#))
}

#[test]
fn allow_with_not_principal_is_refused_when_put_and_still_read_when_stored() {
    let doc = |effect: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{ALLOW_GET},{{"Effect":"{effect}","NotPrincipal":{{"AWS":"org-a"}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::b"}}]}}"#
        )
    };
    let stored = parse(&doc("Allow"));
    assert_eq!(
        stored.check_new().unwrap_err().to_string(),
        "Statement[1] has NotPrincipal with Effect Allow: NotPrincipal must be used with Effect Deny"
    );
    assert!(parse(&doc("Deny")).check_new().is_ok());
    assert!(parse(&statements(&[ALLOW_GET])).check_new().is_ok());
}

#[test]
fn invalid_documents_are_refused_with_a_precise_message() {
    let cases: Vec<(&str, String, &str)> = vec![
        ("not an object", "[]".into(), "Policy must be a JSON object"),
        ("bad version", r#"{"Version":"2020-01-01","Statement":[]}"#.into(), r#"Version must be "2012-10-17" or "2008-10-17", not "2020-01-01""#),
        ("no Statement", r#"{"Version":"2012-10-17"}"#.into(), "Policy has no statements"),
        ("empty Statement", r#"{"Version":"2012-10-17","Statement":[]}"#.into(), "Policy has no statements"),
        ("unknown top-level element", r#"{"Version":"2012-10-17","Foo":1,"Statement":[]}"#.into(), r#"Policy has unknown element "Foo""#),
        ("unknown statement element", statement_with(r#""Ressource":"x""#), r#"Statement[0] has unknown element "Ressource""#),
        ("statement not an object", r#"{"Statement":["x"]}"#.into(), "Statement[0] must be an object"),
        ("missing Effect", r#"{"Statement":[{"Principal":"*","Action":"*","Resource":"arn:aws:s3:::b"}]}"#.into(), "Statement[0] must have Effect"),
        (
            "bad Effect in the third statement",
            statements(&[ALLOW_GET, ALLOW_GET_2, r#"{"Effect":"allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::b"}"#]),
            r#"Statement[2].Effect must be Allow or Deny, not "allow""#,
        ),
        ("missing Principal", r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b"}]}"#.into(), "Statement[0] must have Principal or NotPrincipal"),
        ("Principal and NotPrincipal", statement_with(r#""NotPrincipal":{"AWS":"org-a"}"#), "Statement[0] must not have both Principal and NotPrincipal"),
        ("missing Action", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::b"}]}"#.into(), "Statement[0] must have Action or NotAction"),
        ("Action and NotAction", statement_with(r#""NotAction":"s3:PutObject""#), "Statement[0] must not have both Action and NotAction"),
        ("missing Resource", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"}]}"#.into(), "Statement[0] must have Resource or NotResource"),
        ("Resource and NotResource", statement_with(r#""NotResource":"arn:aws:s3:::b/x""#), "Statement[0] must not have both Resource and NotResource"),
        (
            "action without s3:",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","GetObject"],"Resource":"arn:aws:s3:::b"}]}"#.into(),
            r#"Statement[0].Action has invalid action "GetObject": an action must be "*" or start with "s3:""#,
        ),
        (
            "NotAction of another service",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","NotAction":"iam:*","Resource":"arn:aws:s3:::b"}]}"#.into(),
            r#"Statement[0].NotAction has invalid action "iam:*": an action must be "*" or start with "s3:""#,
        ),
        ("Action of the wrong type", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":7,"Resource":"arn:aws:s3:::b"}]}"#.into(), "Statement[0].Action must be a string or a list of strings"),
        ("empty Action list", r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":[],"Resource":"arn:aws:s3:::b"}]}"#.into(), "Statement[0].Action must not be empty"),
        (
            "resource in another bucket",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::other/*"}]}"#.into(),
            r#"Policy has invalid resource: Statement[0].Resource "arn:aws:s3:::other/*" is neither arn:aws:s3:::b nor under it"#,
        ),
        (
            "resource in a bucket sharing the name's prefix",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::bb/*"}]}"#.into(),
            r#"Policy has invalid resource: Statement[0].Resource "arn:aws:s3:::bb/*" is neither arn:aws:s3:::b nor under it"#,
        ),
        (
            "resource *",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#.into(),
            r#"Policy has invalid resource: Statement[0].Resource "*" is neither arn:aws:s3:::b nor under it"#,
        ),
        (
            "NotResource in another bucket",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","NotResource":"arn:aws:s3:::other"}]}"#.into(),
            r#"Policy has invalid resource: Statement[0].NotResource "arn:aws:s3:::other" is neither arn:aws:s3:::b nor under it"#,
        ),
        (
            "bare principal string",
            r#"{"Statement":[{"Effect":"Allow","Principal":"alice","Action":"*","Resource":"arn:aws:s3:::b"}]}"#.into(),
            r#"Statement[0].Principal has invalid principal "alice": expected "*", an org id, arn:aws:iam::<org>:root or arn:aws:iam::<org>:user/<name>"#,
        ),
        (
            "principal ARN of a group",
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::org-a:group/devs"},"Action":"*","Resource":"arn:aws:s3:::b"}]}"#.into(),
            r#"Statement[0].Principal has invalid principal "arn:aws:iam::org-a:group/devs": expected "*", an org id, arn:aws:iam::<org>:root or arn:aws:iam::<org>:user/<name>"#,
        ),
        (
            "wildcard in a principal",
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::org-a:user/*"},"Action":"*","Resource":"arn:aws:s3:::b"}]}"#.into(),
            r#"Statement[0].Principal has invalid principal "arn:aws:iam::org-a:user/*": expected "*", an org id, arn:aws:iam::<org>:root or arn:aws:iam::<org>:user/<name>"#,
        ),
        (
            "service principal",
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"*","Resource":"arn:aws:s3:::b"}]}"#.into(),
            r#"Statement[0].Principal has unsupported principal type "Service": only "AWS" principals are supported"#,
        ),
        ("duplicate Sid", statements(&[ALLOW_GET_2, ALLOW_GET_2]), r#"Statement ID "two" is used by more than one statement"#),
        ("unknown operator", condition(r#"{"StringEqualz":{"s3:prefix":"a"}}"#), r#"Statement[0].Condition has unknown condition operator "StringEqualz""#),
        ("unknown set qualifier", condition(r#"{"ForSomeValues:StringEquals":{"s3:prefix":"a"}}"#), r#"Statement[0].Condition has unknown condition operator "ForSomeValues:StringEquals""#),
        (
            "NullIfExists",
            condition(r#"{"NullIfExists":{"s3:prefix":"true"}}"#),
            r#"Statement[0].Condition has invalid condition operator "NullIfExists": IfExists cannot be applied to Null, which itself tests whether the key exists"#,
        ),
        ("unsupported key", condition(r#"{"StringEquals":{"aws:PrincipalTag/team":"x"}}"#), r#"Statement[0].Condition.StringEquals has unsupported condition key "aws:PrincipalTag/team""#),
        ("tag key without a tag", condition(r#"{"StringEquals":{"s3:ExistingObjectTag/":"x"}}"#), r#"Statement[0].Condition.StringEquals has unsupported condition key "s3:ExistingObjectTag/""#),
        (
            "non-numeric Numeric value",
            condition(r#"{"NumericLessThan":{"s3:max-keys":"ten"}}"#),
            r#"Statement[0].Condition.NumericLessThan.s3:max-keys has value "ten", which is not a number"#,
        ),
        (
            "non-date Date value",
            condition(r#"{"DateGreaterThan":{"aws:CurrentTime":"yesterday"}}"#),
            r#"Statement[0].Condition.DateGreaterThan.aws:CurrentTime has value "yesterday", which is not a date (ISO 8601, e.g. 2025-01-31T00:00:00Z, or epoch seconds)"#,
        ),
        ("non-boolean Bool value", condition(r#"{"Bool":{"aws:SecureTransport":"yes"}}"#), r#"Statement[0].Condition.Bool.aws:SecureTransport has value "yes", which is not true or false"#),
        (
            "invalid CIDR",
            condition(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#),
            r#"Statement[0].Condition.IpAddress.aws:SourceIp has value "10.0.0.0/33", which is not an IP address or CIDR block"#,
        ),
        ("empty value list", condition(r#"{"StringEquals":{"s3:prefix":[]}}"#), "Statement[0].Condition.StringEquals.s3:prefix must not be empty"),
        ("Condition not an object", condition(r#"["x"]"#), "Statement[0].Condition must be an object of condition operators"),
        (
            "object as a condition value",
            condition(r#"{"StringEquals":{"s3:prefix":{"a":1}}}"#),
            "Statement[0].Condition.StringEquals.s3:prefix must be a string, number or boolean, or a list of them",
        ),
        ("wrapper not an object", r#"{"policy":"x"}"#.into(), "policy must be an object"),
        (
            "seed shape: bad effect",
            r#"{"version":"v1alpha1","Statement":[{"effect":"allow","principals":["*"],"actions":["s3:GetObject"],"resources":["b/*"]}]}"#.into(),
            r#"Statement[0].effect must be Allow or Deny, not "allow""#,
        ),
        (
            "seed shape: resource in another bucket",
            r#"{"policy":{"Statement":[{"effect":"Allow","principals":["*"],"actions":["s3:GetObject"],"resources":["other/*"]}]}}"#.into(),
            r#"Policy has invalid resource: Statement[0].resources "other/*" is neither arn:aws:s3:::b nor under it"#,
        ),
        (
            "seed shape: missing actions",
            r#"{"policy":{"Statement":[{"effect":"Allow","principals":["*"],"resources":["b/*"]}]}}"#.into(),
            "Statement[0] must have actions",
        ),
        (
            "seed shape: AWS element inside",
            r#"{"version":"v1alpha1","Statement":[{"effect":"Allow","Principal":"*","actions":["s3:GetObject"],"resources":["b/*"]}]}"#.into(),
            r#"Statement[0] has unknown element "Principal""#,
        ),
        ("too large", format!(r#"{{"Id":"{}"}}"#, "x".repeat(20 * 1024)), "Policy is 20489 bytes; bucket policies are limited to 20480 bytes"),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(
            |(name, document, expected)| match Policy::parse(document, BUCKET) {
                Ok(_) => Some(format!("{name}: parsed, expected error {expected:?}")),
                Err(e) if e.to_string() == *expected => None,
                Err(e) => Some(format!(
                    "{name}:\n  expected {expected:?}\n  got      {:?}",
                    e.to_string()
                )),
            },
        )
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn invalid_json_is_refused_with_its_position() {
    let message = Policy::parse(r#"{"Statement": ["#, BUCKET)
        .expect_err("truncated JSON")
        .to_string();
    assert!(message.starts_with("Policy is not valid JSON: "), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn resources_written_widely_are_accepted_when_they_cover_the_bucket_or_its_objects() {
    let everything = || allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::*""#);
    let buckets_named_b = || allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::?/*""#);
    let b_prefixed = || allow(r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::b*""#);
    check_all(vec![
        case(
            "arn:aws:s3:::* covers the bucket",
            everything(),
            ALICE,
            "s3:ListBucket",
            BUCKET_ARN,
            Allow,
        ),
        case(
            "arn:aws:s3:::* covers objects",
            everything(),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "?/* covers objects",
            buckets_named_b(),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
        case(
            "?/* is not the bucket",
            buckets_named_b(),
            ALICE,
            "s3:ListBucket",
            BUCKET_ARN,
            NotApplicable,
        ),
        case(
            "b* covers the bucket",
            b_prefixed(),
            ALICE,
            "s3:ListBucket",
            BUCKET_ARN,
            Allow,
        ),
        case(
            "b* covers objects",
            b_prefixed(),
            ALICE,
            "s3:GetObject",
            OBJECT,
            Allow,
        ),
    ]);
    for other in [
        "arn:aws:s3:::c*",
        "arn:aws:s3:::bb/*",
        "arn:aws:s3:::c?/*",
        "arn:aws:iam::*",
    ] {
        let doc = allow(r#""*""#, r#""s3:*""#, &format!("{other:?}"));
        assert!(
            Policy::parse(&doc, BUCKET).is_err(),
            "{other} covers nothing of bucket b"
        );
    }
}

#[test]
fn a_policy_is_public_when_it_allows_everyone_without_pinning_who_or_where() {
    let public = [
        allow(r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::b/*""#),
        allow(r#"{"AWS":"*"}"#, r#""s3:*""#, r#""arn:aws:s3:::b""#),
        statements(&[
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:x-amz-acl":"private"}}}"#,
        ]),
    ];
    let not_public = [
        allow(
            r#"{"AWS":"arn:aws:iam::org-b:root"}"#,
            r#""s3:GetObject""#,
            r#""arn:aws:s3:::b/*""#,
        ),
        statements(&[r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}"#]),
        statements(&[
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}"#,
        ]),
        statements(&[
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"cw:PrincipalOrgID":"org-a"}}}"#,
        ]),
    ];
    for doc in &public {
        assert!(parse(doc).is_public(), "public: {doc}");
    }
    for doc in &not_public {
        assert!(!parse(doc).is_public(), "not public: {doc}");
    }
}
