//! The shell scripts, run as users run them: `dev.sh` with the real binaries, `devtunnel.sh` with a
//! stand-in `devtunnel` on PATH (the real CLI cannot be installed here), and `test.sh`'s set-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::free_port;

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A stand-in `devtunnel` that keeps its tunnels in a folder and logs every call.
const FAKE_DEVTUNNEL: &str = r#"#!/usr/bin/env bash
state="$FAKE_DEVTUNNEL_STATE"
echo "$*" >> "$state/calls.log"
case "$1 $2" in
  "user show") [ -z "${FAKE_LOGGED_OUT:-}" ] && echo "Logged in as someone" || { echo "not logged in" >&2; exit 1; } ;;
  "show "*) [ -f "$state/tunnel" ] || exit 1
            echo "Tunnel ID: $2.euw"
            [ -f "$state/port" ] && echo "Ports: 5001 http https://abcd1234-5001.euw.devtunnels.ms/" ;;
  "create "*) touch "$state/tunnel" ;;
  "port show") [ -f "$state/port" ] || exit 1 ;;
  "port create") touch "$state/port" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"#;

fn fake_devtunnel_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("devtunnel");
    std::fs::write(&script, FAKE_DEVTUNNEL).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    (dir, state)
}

fn devtunnel_script(
    path_prefix: Option<&Path>,
    state: &Path,
    extra: &[(&str, &str)],
) -> std::process::Output {
    let path = match path_prefix {
        Some(prefix) => format!("{}:/usr/bin:/bin", prefix.display()),
        None => "/usr/bin:/bin".to_owned(),
    };
    let mut command = Command::new("bash");
    command
        .arg(repository().join("scripts/devtunnel.sh"))
        .arg("--print-only")
        .env_clear()
        .env("PATH", path)
        .env("FAKE_DEVTUNNEL_STATE", state)
        .env("SKILL_APP_ID", "5c1a0000-0000-4000-8000-000000000001");
    for (key, value) in extra {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn devtunnel_creates_the_tunnel_once_and_prints_what_to_do_next() {
    let (dir, state) = fake_devtunnel_dir();
    let bin = dir.path().join("bin");
    let first = devtunnel_script(Some(&bin), &state, &[]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("Creating the dev tunnel handover-skill"));
    assert!(stdout.contains("Skill public URL:  https://abcd1234-5001.euw.devtunnels.ms"));
    assert!(stdout.contains("https://abcd1234-5001.euw.devtunnels.ms/skill-manifest.json"));
    assert!(stdout.contains("scripts/pack-solution.sh --endpoint https://abcd1234-5001.euw.devtunnels.ms --app-id 5c1a0000-0000-4000-8000-000000000001"));

    let second = devtunnel_script(Some(&bin), &state, &[]);
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("Reusing the dev tunnel handover-skill")
    );
    let calls = std::fs::read_to_string(state.join("calls.log")).unwrap();
    assert_eq!(
        calls
            .lines()
            .filter(|call| call.starts_with("create"))
            .count(),
        1,
        "{calls}"
    );
    assert!(calls.contains("create handover-skill --allow-anonymous"));
    assert!(calls.contains("port create handover-skill --port-number 5001"));
    assert!(!calls.contains("host"), "--print-only does not host");
}

#[test]
fn devtunnel_refuses_to_publish_a_skill_without_an_app_id_and_says_why() {
    let (dir, state) = fake_devtunnel_dir();
    for app_id in [None, Some("<your-skill-app-id>")] {
        let mut command = Command::new("bash");
        command
            .arg(repository().join("scripts/devtunnel.sh"))
            .arg("--print-only")
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", dir.path().join("bin").display()),
            )
            .env("FAKE_DEVTUNNEL_STATE", &state);
        if let Some(app_id) = app_id {
            command.env("SKILL_APP_ID", app_id);
        }
        let refused = command.output().unwrap();
        assert_eq!(refused.status.code(), Some(1), "{app_id:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("set SKILL_APP_ID") && stderr.contains("anonymous local mode"),
            "{stderr}"
        );
    }
    // Refused before the tunnel was touched.
    assert!(!state.join("calls.log").exists());
}

#[test]
fn devtunnel_explains_a_missing_cli_and_a_missing_login() {
    let (dir, state) = fake_devtunnel_dir();
    let missing = devtunnel_script(None, &state, &[]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("not installed") && stderr.contains("devtunnel user login"),
        "{stderr}"
    );

    let logged_out = devtunnel_script(
        Some(&dir.path().join("bin")),
        &state,
        &[("FAKE_LOGGED_OUT", "1")],
    );
    assert_eq!(logged_out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&logged_out.stderr).contains("Run: devtunnel user login"));
}

fn answers(url: &str) -> bool {
    Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "--max-time", "2", url])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn dev_sh_starts_the_three_services_and_stops_them_on_ctrl_c() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_copilot-solution"))
        .parent()
        .unwrap()
        .to_owned();
    assert!(
        bin.join("skill").exists() && bin.join("contoso-livechat").exists(),
        "build the binaries first: cargo build --workspace --bins"
    );
    let data = tempfile::tempdir().unwrap();
    let (skill, livechat, emulator) = (free_port(), free_port(), free_port());
    // Through `timeout`, which passes the Ctrl+C on and starts dev.sh with SIGINT at its default:
    // run from a background job of a non-interactive shell (`cmd &`, `nohup`), this test inherits
    // SIGINT ignored, and bash cannot trap a signal ignored when it starts.
    let mut child = Command::new("timeout")
        .args(["300", "bash"])
        .arg(repository().join("scripts/dev.sh"))
        .env("DEV_SKIP_BUILD", "1")
        .env("DEV_BIN_DIR", &bin)
        .env("DEV_DATA_DIR", data.path())
        .env("SKILL_BIND", format!("127.0.0.1:{skill}"))
        .env("LIVECHAT_BIND", format!("127.0.0.1:{livechat}"))
        .env("EMULATOR_BIND", format!("127.0.0.1:{emulator}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !printed.contains("Press Ctrl+C") {
        assert!(
            Instant::now() < deadline,
            "dev.sh did not come up: {printed}"
        );
        match lines.next() {
            Some(line) => printed.push_str(&format!("{}\n", line.unwrap())),
            None => panic!("dev.sh stopped early: {printed}"),
        }
    }
    for (port, path) in [
        (emulator, "/"),
        (livechat, "/signin"),
        (skill, "/skill-manifest.json"),
    ] {
        assert!(printed.contains(&format!("127.0.0.1:{port}")), "{printed}");
        assert!(
            answers(&format!("http://127.0.0.1:{port}{path}")),
            "port {port} answers"
        );
    }

    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "dev.sh did not stop on Ctrl+C");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for port in [skill, livechat, emulator] {
        while answers(&format!("http://127.0.0.1:{port}/healthz")) {
            assert!(
                Instant::now() < deadline,
                "port {port} still answers after Ctrl+C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `scripts/test.sh` with the machine's environment plus `extra`, stopping after its set-up.
fn test_sh_setup(extra: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new("bash");
    command
        .arg(repository().join("scripts/test.sh"))
        .env("TEST_SH_SETUP_ONLY", "1")
        .env_remove("SKILL_TEST_POSTGRES_URL");
    for (key, value) in extra {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn test_sh_sets_up_this_machine_and_names_what_it_cannot_install() {
    // This machine is set up (the test runs under it), so the set-up passes.
    let ready = test_sh_setup(&[]);
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );

    // A browser it may not install: it says exactly what to install.
    let no_browser = test_sh_setup(&[
        ("TEST_SH_NO_INSTALL", "1"),
        ("CHROMIUM_BIN", "/nonexistent/chromium"),
    ]);
    let stderr = String::from_utf8_lossy(&no_browser.stderr);
    assert!(!no_browser.status.success());
    assert!(
        stderr.contains("sudo apt-get install -y chromium chromium-driver"),
        "{stderr}"
    );

    // A PostgreSQL that does not answer, and that it may not start: it says what is needed.
    let silent = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    let no_postgres = test_sh_setup(&[
        ("TEST_SH_NO_INSTALL", "1"),
        ("SKILL_TEST_POSTGRES_URL", &silent),
    ]);
    let stderr = String::from_utf8_lossy(&no_postgres.stderr);
    assert!(!no_postgres.status.success());
    assert!(stderr.contains("PostgreSQL does not answer"), "{stderr}");
    assert!(stderr.contains("SKILL_TEST_POSTGRES_URL="), "{stderr}");

    // An image test that cannot run is skipped out loud, never silently.
    let skipped = test_sh_setup(&[("HANDOVER_IMAGE_TEST", "skip:no podman on this machine")]);
    let stderr = String::from_utf8_lossy(&skipped.stderr);
    assert!(skipped.status.success(), "{stderr}");
    assert!(
        stderr.contains("THE IMAGE TEST IS SKIPPED: no podman on this machine"),
        "{stderr}"
    );
}
