//! The container image, built from the repository's `Containerfile` with podman and proved complete
//! without running a container (which this sandbox cannot): the image is exported with `podman
//! create` and `podman export`, its files are checked to be nothing but what it should hold, and
//! both binaries run from it under `chroot` as the image's user, with the image's environment,
//! against loopback.
//!
//! No registry is reachable here, so the image is built from the binaries `cargo build --workspace
//! --bins` made and a Debian 12 base made with `debootstrap` (cached in `/var/tmp`). Where podman,
//! debootstrap or root are missing, `scripts/test.sh` says so loudly and sets
//! `HANDOVER_IMAGE_TEST=skip:<why>`; without that, their absence fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BASE_IMAGE: &str = "localhost/handover-debian:bookworm";
const IMAGE: &str = "localhost/handover:test";
const BASE_ROOTFS: &str = "/var/tmp/handover-base/rootfs";

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .current_dir(repository())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Whether the test can run here; `Err` says why not, for the skip message.
fn prerequisites() -> Result<(), String> {
    for tool in ["podman", "debootstrap", "chroot"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|output| output.status.success());
        if !found {
            return Err(format!(
                "{tool} is not installed (apt-get install -y podman debootstrap)"
            ));
        }
    }
    let root = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        return Err("chroot needs root".to_owned());
    }
    Ok(())
}

/// The Debian 12 base the runtime's C library and certificates come from, made once.
fn base_image() {
    let exists = Command::new("podman")
        .args(["image", "exists", BASE_IMAGE])
        .status()
        .unwrap();
    if exists.success() {
        return;
    }
    if !Path::new(BASE_ROOTFS)
        .join("etc/ssl/certs/ca-certificates.crt")
        .exists()
    {
        let _ = std::fs::remove_dir_all(BASE_ROOTFS);
        run(
            "debootstrap",
            &[
                "--variant=minbase",
                "--include=ca-certificates",
                "bookworm",
                BASE_ROOTFS,
                "http://deb.debian.org/debian",
            ],
        );
    }
    run(
        "sh",
        &[
            "-c",
            &format!("tar -C {BASE_ROOTFS} -c . | podman import - {BASE_IMAGE}"),
        ],
    );
}

/// The folder of the binaries `cargo build --workspace --bins` made, relative to the repository
/// (the build context).
fn prebuilt() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_copilot-solution"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap();
    for name in ["skill", "contoso-livechat"] {
        assert!(
            bin.join(name).exists(),
            "{name} is not built in {}: run `cargo build --workspace --bins` (scripts/test.sh does)",
            bin.display()
        );
    }
    bin.strip_prefix(repository())
        .unwrap_or_else(|_| {
            panic!(
                "the binaries ({}) must be inside the repository, the image's build context",
                bin.display()
            )
        })
        .display()
        .to_string()
}

/// The image's files, exported into a folder; the folder.
fn exported() -> tempfile::TempDir {
    let container = String::from_utf8(run("podman", &["create", IMAGE]).stdout).unwrap();
    let container = container.trim();
    let folder = tempfile::tempdir().unwrap();
    let archive = folder.path().join("image.tar");
    run(
        "podman",
        &["export", "-o", archive.to_str().unwrap(), container],
    );
    run("podman", &["rm", container]);
    let root = folder.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    run(
        "tar",
        &[
            "-C",
            root.to_str().unwrap(),
            "-xf",
            archive.to_str().unwrap(),
        ],
    );
    std::fs::remove_file(archive).unwrap();
    folder
}

fn files_under(root: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                folders.push(path);
            } else {
                files.insert(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    files
}

/// What the image's configuration says: its user, health check, entry point and environment.
fn image_config() -> serde_json::Value {
    let output = run("podman", &["image", "inspect", IMAGE]);
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    inspected[0].clone()
}

/// A binary of the exported image, run under chroot as the image's user with the image's
/// environment and `overrides`.
fn in_image(
    root: &Path,
    environment: &[String],
    binary: &str,
    args: &[&str],
    overrides: &[(&str, String)],
    log: &Path,
) -> tokio::process::Command {
    let mut variables: Vec<(String, String)> = environment
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    for (key, value) in overrides {
        variables.retain(|(existing, _)| existing != key);
        variables.push(((*key).to_owned(), value.clone()));
    }
    let variables: Vec<(&str, String)> = variables
        .iter()
        .map(|(key, value)| (key.as_str(), value.clone()))
        .collect();
    let mut command = test_support::service_command(Path::new("/usr/sbin/chroot"), log, &variables);
    command
        .arg("--userspec=10001:10001")
        .arg(root)
        .arg(binary)
        .args(args);
    command
}

#[tokio::test]
async fn the_image_holds_only_what_it_needs_and_both_services_run_from_it() {
    match std::env::var("HANDOVER_IMAGE_TEST") {
        Ok(reason) if reason.starts_with("skip:") => {
            eprintln!("the image test is skipped: {}", &reason[5..]);
            return;
        }
        _ => {}
    }
    if let Err(why) = prerequisites() {
        panic!("the image test cannot run: {why}; scripts/test.sh installs what it can and otherwise sets HANDOVER_IMAGE_TEST=skip:<why>");
    }
    base_image();
    let prebuilt = prebuilt();
    run(
        "podman",
        &[
            "build",
            "--pull=never",
            "--format",
            "docker",
            "--build-arg",
            "BINARIES=prebuilt",
            "--build-arg",
            &format!("PREBUILT={prebuilt}"),
            "--build-arg",
            &format!("RUST_IMAGE={BASE_IMAGE}"),
            "-t",
            IMAGE,
            ".",
        ],
    );

    let config = image_config();
    assert_eq!(config["Config"]["User"], "10001:10001", "not root");
    assert_eq!(
        config["Config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/skill"])
    );
    let health = config["Healthcheck"]["Test"].to_string();
    assert!(
        health.contains("/usr/local/bin/skill") && health.contains("healthcheck"),
        "{health}"
    );
    let environment: Vec<String> = config["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair.as_str().unwrap().to_owned())
        .collect();

    // Nothing but the binaries, their static files, the configuration, the C library, the
    // certificates, the user and the data folders.
    let folder = exported();
    let root = folder.path().join("root");
    let expected: BTreeSet<String> = [
        "etc/group",
        "etc/passwd",
        "etc/handover/livechat.toml",
        "etc/handover/skill.toml",
        "etc/ssl/certs/ca-certificates.crt",
        "lib/x86_64-linux-gnu/libc.so.6",
        "lib/x86_64-linux-gnu/libgcc_s.so.1",
        "lib/x86_64-linux-gnu/libm.so.6",
        "lib64/ld-linux-x86-64.so.2",
        "usr/local/bin/contoso-livechat",
        "usr/local/bin/skill",
        "usr/share/contoso-livechat/static/app.css",
        "usr/share/contoso-livechat/static/app.js",
        "var/lib/handover/livechat/.keep",
        "var/lib/handover/skill/.keep",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(files_under(&root), expected);

    // Both services start from the image, as its user, on loopback, with their static files and
    // embedded migrations, and their health checks answer.
    let logs = folder.path().join("services.log");
    let livechat_port = test_support::free_port();
    let livechat_url = format!("http://127.0.0.1:{livechat_port}");
    let mut livechat = in_image(
        &root,
        &environment,
        "/usr/local/bin/contoso-livechat",
        &[],
        &[("LIVECHAT_BIND", format!("127.0.0.1:{livechat_port}"))],
        &logs,
    )
    .spawn()
    .unwrap();
    let skill_port = test_support::free_port();
    let skill_url = format!("http://127.0.0.1:{skill_port}");
    let skill_overrides = [
        ("SKILL_BIND", format!("127.0.0.1:{skill_port}")),
        ("SKILL_PUBLIC_URL", format!("http://localhost:{skill_port}")),
        ("LIVECHAT_BASE_URL", livechat_url.clone()),
    ];
    let mut skill = in_image(
        &root,
        &environment,
        "/usr/local/bin/skill",
        &[],
        &skill_overrides,
        &logs,
    )
    .spawn()
    .unwrap();
    let ready = async {
        test_support::wait_until_ready(&livechat_url, "Contoso Live Chat from the image").await;
        test_support::wait_until_ready(&skill_url, "the skill from the image").await;
    };
    if tokio::time::timeout(Duration::from_secs(60), ready)
        .await
        .is_err()
    {
        panic!(
            "not ready from the image:\n{}",
            std::fs::read_to_string(&logs).unwrap_or_default()
        );
    }
    let http = reqwest::Client::new();
    let css = http
        .get(format!("{livechat_url}/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        css.status(),
        200,
        "the static files are found next to nothing but the setting"
    );
    for ready in [
        format!("{livechat_url}/readyz"),
        format!("{skill_url}/readyz"),
    ] {
        assert_eq!(
            http.get(&ready).send().await.unwrap().status(),
            200,
            "{ready}"
        );
    }
    let manifest: serde_json::Value = http
        .get(format!("{skill_url}/skill-manifest.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        manifest["endpoints"][0]["endpointUrl"],
        format!("http://localhost:{skill_port}/api/messages")
    );
    for (binary, overrides) in [
        (
            "/usr/local/bin/contoso-livechat",
            vec![("LIVECHAT_BIND", format!("127.0.0.1:{livechat_port}"))],
        ),
        ("/usr/local/bin/skill", skill_overrides.to_vec()),
    ] {
        let check = in_image(
            &root,
            &environment,
            binary,
            &["healthcheck"],
            &overrides,
            &logs,
        )
        .status()
        .await
        .unwrap();
        assert!(check.success(), "{binary} healthcheck");
    }
    // The data the services wrote is the image user's, in the image's data folders.
    assert!(root.join("var/lib/handover/skill/skill.db").exists());
    assert!(root.join("var/lib/handover/livechat/.lock").exists());
    skill.kill().await.unwrap();
    livechat.kill().await.unwrap();
}
