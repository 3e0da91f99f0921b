//! The packer, run as users run it, and the zip it writes checked file by file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

use copilot_solution::solution::Solution;
use serde_json::Value;

const APP_ID: &str = "5c1a0000-0000-4000-8000-000000000001";

fn pack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_copilot-solution"))
        .arg("pack")
        .args(args)
        .output()
        .unwrap()
}

fn unzip(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).unwrap();
            assert_eq!(
                entry.compression(),
                zip::CompressionMethod::Deflated,
                "{}",
                entry.name()
            );
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().to_owned(), bytes)
        })
        .collect()
}

fn well_formed(text: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => return depth == 0,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

#[test]
fn the_packed_zip_is_consistent_and_carries_the_endpoint_and_app_id() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ContosoHandover.zip");
    let output = pack(&[
        "--endpoint",
        "https://abcd-5001.euw.devtunnels.ms/",
        "--app-id",
        APP_ID,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let files = unzip(&out);

    for required in [
        "solution.xml",
        "customizations.xml",
        "[Content_Types].xml",
        "bots/hndvr_contosoAgent/bot.xml",
        "bots/hndvr_contosoAgent/configuration.json",
    ] {
        assert!(files.contains_key(required), "{required} is in the zip");
    }
    for (path, bytes) in &files {
        let text = std::str::from_utf8(bytes).unwrap();
        if path.ends_with(".xml") {
            assert!(well_formed(text), "{path} is well-formed XML");
        } else if path.ends_with(".json") {
            serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{path}: {e}"));
        } else if path.ends_with("/data") {
            let dialog =
                copilot_solution::yaml::parse(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(dialog["kind"].is_string(), "{path} has a kind");
        } else {
            panic!("unexpected file {path}");
        }
    }

    // Every data part has a content-type override, and nothing else does.
    let content_types = std::str::from_utf8(&files["[Content_Types].xml"]).unwrap();
    let overrides: BTreeSet<String> =
        copilot_solution::xml::attributes(content_types, "Override", "PartName")
            .into_iter()
            .collect();
    let parts: BTreeSet<String> = files
        .keys()
        .filter(|p| p.ends_with("/data"))
        .map(|p| format!("/{p}"))
        .collect();
    assert_eq!(overrides, parts);

    // The root components are exactly the environment variables shipped.
    let solution_xml = std::str::from_utf8(&files["solution.xml"]).unwrap();
    let rooted: BTreeSet<String> =
        copilot_solution::xml::attributes(solution_xml, "RootComponent", "schemaName")
            .into_iter()
            .collect();
    let variables: BTreeSet<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix("environmentvariabledefinitions/"))
        .map(|p| p.split('/').next().unwrap().to_owned())
        .collect();
    assert_eq!(rooted, variables);
    assert_eq!(variables.len(), 2);

    // Every component belongs to the one bot; the topics the issue names are there.
    let solution = Solution::from_zip(&out).unwrap();
    solution.check().unwrap();
    let names: BTreeSet<String> = solution
        .components()
        .iter()
        .filter_map(|c| solution.component_name(c))
        .collect();
    for topic in [
        "Escalate to Live Chat",
        "Goodbye Live Chat",
        "Conversation Start",
        "Fallback",
        "On Error",
    ] {
        assert!(names.contains(topic), "{topic} in {names:?}");
    }

    // The import asks nothing the user already told us.
    assert_eq!(
        solution
            .environment_variable_default("hndvr_contosoAgent.skill.HandoffSkill.AppEndpoint")
            .unwrap(),
        "https://abcd-5001.euw.devtunnels.ms/api/messages"
    );
    assert_eq!(
        solution
            .environment_variable_default("hndvr_contosoAgent.skill.HandoffSkill.AppId")
            .unwrap(),
        APP_ID
    );
}

/// The skill component's actions as the skill's own manifest declares them.
#[test]
fn the_skill_component_matches_the_skill_manifest() {
    let manifest = skill::configuration::Settings::default().skill_manifest();
    let properties = |reference: &Value| -> BTreeSet<String> {
        let Some(pointer) = reference.get("$ref").and_then(Value::as_str) else {
            return BTreeSet::new();
        };
        manifest
            .pointer(&format!("{}/properties", pointer.trim_start_matches('#')))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut declared: Vec<(String, String, BTreeSet<String>, BTreeSet<String>)> = manifest
        ["activities"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, activity)| {
            (
                id.clone(),
                activity["type"].as_str().unwrap().to_owned(),
                properties(&activity["value"]),
                properties(&activity["resultValue"]),
            )
        })
        .collect();
    declared.sort();
    let solution = Solution::load(&copilot_solution::solution::default_source_dir()).unwrap();
    let actions: Vec<(String, String, BTreeSet<String>, BTreeSet<String>)> = solution
        .skill_actions()
        .unwrap()
        .into_iter()
        .map(|a| (a.action_id, a.activity_type, a.inputs, a.outputs))
        .collect();
    assert_eq!(actions, declared);
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.zip");
    let out = out.to_str().unwrap();
    let cases = [
        (
            vec![
                "--endpoint",
                "http://abcd-5001.euw.devtunnels.ms",
                "--app-id",
                APP_ID,
                "--out",
                out,
            ],
            "https",
        ),
        (
            vec!["--endpoint", "not a url", "--app-id", APP_ID, "--out", out],
            "--endpoint",
        ),
        (
            vec![
                "--endpoint",
                "https://abcd-5001.euw.devtunnels.ms/somewhere",
                "--app-id",
                APP_ID,
                "--out",
                out,
            ],
            "/api/messages",
        ),
        (
            vec![
                "--endpoint",
                "https://abcd-5001.euw.devtunnels.ms",
                "--app-id",
                "12345",
                "--out",
                out,
            ],
            "GUID",
        ),
        (vec!["--app-id", APP_ID, "--out", out], "--endpoint"),
    ];
    for (args, expected) in cases {
        let output = pack(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!Path::new(out).exists(), "{args:?} wrote a file");
    }
}

#[test]
fn a_broken_source_is_not_packed() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("solution");
    copy_dir(&copilot_solution::solution::default_source_dir(), &source);
    std::fs::write(
        source.join("botcomponents/hndvr_contosoAgent.topic.Greeting/data"),
        "kind: AdaptiveDialog\nbeginDialog: [oops",
    )
    .unwrap();
    let out = dir.path().join("x.zip");
    let output = pack(&[
        "--endpoint",
        "https://a-5001.euw.devtunnels.ms",
        "--app-id",
        APP_ID,
        "--out",
        out.to_str().unwrap(),
        "--source",
        source.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Greeting/data is not valid YAML"));
    assert!(!out.exists());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
