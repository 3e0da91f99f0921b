//! Reads the workspace's sources the way the tidy tests (`tests/tidy.rs`) need them: which files
//! there are, which module each file is, what each imports, and the text a file holds outside its
//! comments.
//!
//! The tests turn the absences `ARCHITECTURE.md` states into checks, so that a claim the code
//! breaks fails the build instead of misleading a reader.
//! Everything here reads files and nothing else: it runs no code of the project.

pub mod modules;
pub mod source;

use std::path::{Path, PathBuf};

/// The repository root (this crate lives one folder below it).
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The workspace's crates, as folders of the repository.
pub const CRATES: [&str; 7] = [
    "skill",
    "contoso-livechat",
    "copilot-solution",
    "livechat-contract",
    "service-support",
    "test-support",
    "tidy",
];

/// Every file below `folder` whose name ends with `extension`, in a stable order; build output and
/// installed packages are left out.
pub fn files_below(folder: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if matches!(
                name.to_str(),
                Some("target" | "node_modules" | ".git" | "data")
            ) {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(extension))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// `path` relative to `base`, with `/` separators, for messages and for matching.
pub fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
