//! The manifests in `config/` and the Helm chart agree with each other and with the binary: the
//! same RBAC rules, and only environment variables that `operator run` reads.

mod common;

use std::collections::BTreeSet;

use clap::CommandFactory;
use operator::cli::Cli;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(common::repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("YAML")
}

#[test]
fn the_chart_grants_exactly_the_rules_of_config() {
    let config = yaml(&read("config/rbac/cluster_role.yaml"));
    let template = read("charts/stowage-operator/templates/rbac.yaml");
    let start = template.find("# rules:begin\n").expect("rules:begin marker") + "# rules:begin\n".len();
    let end = template.find("# rules:end").expect("rules:end marker");
    let chart = yaml(&template[start..end]);
    assert_eq!(chart["rules"], config["rules"]);
    assert!(config["rules"].as_array().is_some_and(|r| !r.is_empty()));
}

#[test]
fn rbac_never_grants_wildcards_or_cluster_wide_writes_beyond_the_operators_needs() {
    let config = yaml(&read("config/rbac/cluster_role.yaml"));
    for rule in config["rules"].as_array().expect("rules") {
        for field in ["apiGroups", "resources", "verbs"] {
            let values = rule[field].as_array().expect(field);
            assert!(!values.iter().any(|v| v == "*"), "wildcard in {rule}");
        }
        let verbs: BTreeSet<&str> = rule["verbs"]
            .as_array()
            .expect("verbs")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        // `update` only of the owners' finalizers (what blockOwnerDeletion needs); never of an
        // object, where a stale read would overwrite someone else's fields.
        let finalizers_only = rule["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .all(|r| r.as_str().is_some_and(|r| r.ends_with("/finalizers")));
        assert!(
            (!verbs.contains("update") || finalizers_only) && !verbs.contains("deletecollection"),
            "{rule}"
        );
    }
}

/// The environment variables `operator run` reads.
fn run_env() -> BTreeSet<String> {
    let command = Cli::command();
    let run = command.find_subcommand("run").expect("run subcommand");
    run.get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

/// `- name: X` entries of a manifest's container env.
fn env_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- name: "))
        .map(|n| n.trim().to_owned())
        .filter(|n| n.starts_with("STOWAGE_") || n.starts_with("POD_"))
        .collect()
}

#[test]
fn deployments_set_only_variables_the_operator_reads() {
    let known = run_env();
    for path in [
        "config/manager/deployment.yaml",
        "charts/stowage-operator/templates/deployment.yaml",
    ] {
        let text = read(path);
        let names = env_names(&text);
        assert!(names.len() >= 5, "{path}: {names:?}");
        for name in names {
            assert!(
                known.contains(&name),
                "{path} sets {name}, which `operator run` does not read: {known:?}"
            );
        }
        assert!(text.contains("args: [\"run\"]"), "{path} runs `operator run`");
    }
}

#[test]
fn the_config_deployment_is_what_the_rbac_binds() {
    let deployment = yaml(&read("config/manager/deployment.yaml"));
    let binding = yaml(&read("config/rbac/cluster_role_binding.yaml"));
    let account = &deployment["spec"]["template"]["spec"]["serviceAccountName"];
    assert_eq!(&binding["subjects"][0]["name"], account);
    let lease_binding = yaml(&read("config/rbac/leader_election_role_binding.yaml"));
    assert_eq!(&lease_binding["subjects"][0]["name"], account);
}
