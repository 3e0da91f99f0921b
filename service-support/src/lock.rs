//! One process per data directory: a service holds an exclusive lock on `{data_dir}/.lock` for as
//! long as it runs, and a second process started on the same directory refuses to start, naming
//! the holder. Two writers on one SQLite store would abandon each other's openings, send deliveries
//! twice and lose messages (each keeps part of its state in memory).
//!
//! The lock is the operating system's (`flock` on Unix), so it goes with the process: a process
//! killed with SIGKILL holds nothing, and the next start takes the directory over.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The name of the lock file in a data directory.
pub const LOCK_FILE: &str = ".lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock of `data_dir` (created if missing) for `service`, or fails naming the
    /// process that holds it and `setting`, the setting that names the directory.
    pub fn acquire(data_dir: &Path, service: &str, setting: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!(
                "cannot create the data directory {} ({setting})",
                data_dir.display()
            )
        })?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    holder.chars().take(300).collect()
                };
                anyhow::bail!(
                    "the data directory {} is in use by {holder}: one {service} process per data directory (two would send messages twice and lose others). Stop that process, or give this one another {setting}",
                    data_dir.display()
                );
            }
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
        // Who holds it, for the message of the next one that tries.
        let holder = format!(
            "{service} (process {} on {}, since {})",
            std::process::id(),
            host_name(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(holder.as_bytes()))
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// This machine's name, as far as it can be told without a dependency.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_a_released_lock_is_taken() {
        let folder = tempfile::tempdir().unwrap();
        let dir = folder.path().join("data");
        let first = DataDirLock::acquire(&dir, "the skill", "SKILL_DATA_DIR").unwrap();
        let error = DataDirLock::acquire(&dir, "the skill", "SKILL_DATA_DIR")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("process {}", std::process::id())),
            "{error}"
        );
        assert!(error.contains("SKILL_DATA_DIR"), "{error}");
        drop(first);
        let again = DataDirLock::acquire(&dir, "the skill", "SKILL_DATA_DIR").unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }
}
