//! Files on disk: a customer's or an agent's file is streamed into `files/incoming/` (at most
//! `files.max_file_bytes`, hashed as it arrives, never held in memory whole), checked (its kind by
//! its first bytes against `files.allowed_types`, a picture's size, optionally a malware scan,
//! `scan.rs`), then kept under `files/objects/` named by its SHA-256. Which entry has which file is
//! the database's (`store/`); this module knows bytes and paths only. The janitor (`janitor.rs`)
//! removes the files of long-ended conversations and bytes nothing refers to.
//!
//! Why on disk and not in the database: a 10 MB blob in the one SQLite writer's transaction would
//! stall every other write of its batch (messages, deliveries) while it is copied and fsynced, and
//! would pass through the WAL twice; on disk it is written by the request's own task, and the
//! transaction only records 200 bytes about it. Content-addressed names keep identical uploads
//! (a retry, the same screenshot twice) once and make a half-written object impossible: bytes are
//! renamed into place only when complete.

pub mod janitor;
pub mod scan;

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use service_support::files::{self, FileKind};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use scan::{Scanner, Verdict};

/// What the live chat takes, and how much it keeps.
#[derive(Debug, Clone)]
pub struct FileLimits {
    /// The largest file, in bytes.
    pub max_file_bytes: u64,
    /// The kinds taken, by media type.
    pub allowed_types: HashSet<String>,
    /// All kept files together at most, in bytes.
    pub space: u64,
}

impl FileLimits {
    /// True when files of `kind` are taken.
    pub fn allows(&self, kind: FileKind) -> bool {
        self.allowed_types.contains(kind.mime)
    }
}

/// Why a file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than {}, the most the live chat takes", files::describe_size(*limit))]
    TooLarge { limit: u64 },
    #[error("{} files are not accepted here", files::capitalised(&kind.label()))]
    Refused { kind: FileKind },
    #[error("the malware scan refused the file ({0})")]
    Infected(String),
    #[error("the file could not be scanned for malware just now; try again in a moment")]
    ScanUnavailable(String),
    #[error("the file did not arrive in time")]
    Late,
    #[error("the upload stopped before the end: {0}")]
    Interrupted(String),
    #[error("the file could not be stored: {0}")]
    Io(#[from] std::io::Error),
}

/// A picture's size, for the skill to decide how Teams shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub animated: bool,
}

/// A file received whole and checked, not yet kept: dropping it deletes it.
pub struct Incoming {
    file: tempfile::NamedTempFile,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
    pub picture: Option<Picture>,
}

/// A kept file: its bytes are at [`FileStore::path_of`] its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFile {
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
    pub picture: Option<Picture>,
}

/// The files folder.
pub struct FileStore {
    objects: PathBuf,
    incoming: PathBuf,
    limits: FileLimits,
    scanner: Option<Scanner>,
}

impl FileStore {
    /// Opens `root` (creating it), and clears what an earlier process left half-received.
    pub fn open(root: &Path, limits: FileLimits, scanner: Option<Scanner>) -> anyhow::Result<Self> {
        let objects = root.join("objects");
        let incoming = root.join("incoming");
        for folder in [&objects, &incoming] {
            std::fs::create_dir_all(folder).map_err(|error| {
                anyhow::anyhow!(
                    "cannot create the files folder {}: {error}",
                    folder.display()
                )
            })?;
        }
        for leftover in std::fs::read_dir(&incoming)?.flatten() {
            let _ = std::fs::remove_file(leftover.path());
        }
        Ok(Self {
            objects,
            incoming,
            limits,
            scanner,
        })
    }

    pub fn limits(&self) -> &FileLimits {
        &self.limits
    }

    /// Where the bytes with this SHA-256 are kept.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        let folder = sha256.get(..2).unwrap_or("00");
        self.objects.join(folder).join(sha256)
    }

    /// Streams a body into a new incoming file, then checks it: its size (stopping as soon as it
    /// is too large), its kind by its first bytes, a picture's size, and the scan if there is one.
    pub async fn receive<S>(&self, mut body: S) -> Result<Incoming, FileError>
    where
        S: Stream<Item = Result<Bytes, FileError>> + Unpin,
    {
        let temporary = tempfile::NamedTempFile::new_in(&self.incoming)?;
        let mut writer = tokio::io::BufWriter::with_capacity(
            64 * 1024,
            tokio::fs::File::from_std(temporary.reopen()?),
        );
        let mut hasher = Sha256::new();
        let mut prefix = files::Prefix::default();
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > self.limits.max_file_bytes {
                return Err(FileError::TooLarge {
                    limit: self.limits.max_file_bytes,
                });
            }
            prefix.push(&chunk);
            hasher.update(&chunk);
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
        writer.into_inner().sync_all().await?;
        if size == 0 {
            return Err(FileError::Empty);
        }
        let kind = prefix.kind(size as usize <= prefix.bytes().len());
        if !self.limits.allows(kind) {
            return Err(FileError::Refused { kind });
        }
        let picture = match kind.is_inline_picture() {
            true => picture_of(&temporary, kind, prefix.bytes()).await,
            false => None,
        };
        if let Some(scanner) = &self.scanner {
            match scanner.scan(temporary.path()).await {
                Ok(Verdict::Clean) => {}
                Ok(Verdict::Infected(signature)) => {
                    tracing::warn!(signature = %signature, "the malware scan refused a file");
                    return Err(FileError::Infected(signature));
                }
                Err(error) => {
                    tracing::error!(error = %error, "the malware scan could not be made");
                    return Err(FileError::ScanUnavailable(error));
                }
            }
        }
        Ok(Incoming {
            file: temporary,
            kind,
            size,
            sha256: hex::encode(hasher.finalize()),
            picture,
        })
    }

    /// Keeps a received file under its SHA-256 (bytes kept already stay as they are).
    pub async fn keep(&self, incoming: Incoming) -> anyhow::Result<KeptFile> {
        let path = self.path_of(&incoming.sha256);
        let kept = KeptFile {
            kind: incoming.kind,
            size: incoming.size,
            sha256: incoming.sha256.clone(),
            picture: incoming.picture,
        };
        let file = incoming.file;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            if path.exists() {
                // The same bytes are kept already; the new copy goes with the temporary file.
                return Ok(());
            }
            file.persist(&path)
                .map_err(|error| anyhow::anyhow!("cannot keep the file: {}", error.error))?;
            Ok(())
        })
        .await??;
        Ok(kept)
    }

    /// Deletes kept bytes that no entry refers to (`referenced`), once older than `grace` at
    /// `now` (an upload between keeping its bytes and recording them is never caught), and
    /// incoming files of that age. Answers how many were deleted.
    /// Deletes the bytes of `hashes` that `referenced` no longer holds (an erasure's files, at
    /// once); answers how many went.
    pub fn forget(
        &self,
        hashes: &[String],
        referenced: &HashSet<String>,
    ) -> std::io::Result<usize> {
        let mut deleted = 0;
        for hash in hashes.iter().filter(|hash| !referenced.contains(*hash)) {
            match std::fs::remove_file(self.path_of(hash)) {
                Ok(()) => deleted += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(deleted)
    }

    pub fn collect_garbage(
        &self,
        referenced: &HashSet<String>,
        grace: std::time::Duration,
        now: std::time::SystemTime,
    ) -> std::io::Result<usize> {
        let old_enough = |path: &Path| {
            std::fs::metadata(path)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age >= grace)
        };
        let mut deleted = 0;
        for folder in std::fs::read_dir(&self.objects)?.flatten() {
            let Ok(entries) = std::fs::read_dir(folder.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !referenced.contains(&name) && old_enough(&entry.path()) {
                    std::fs::remove_file(entry.path())?;
                    deleted += 1;
                }
            }
        }
        for entry in std::fs::read_dir(&self.incoming)?.flatten() {
            if old_enough(&entry.path()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(deleted)
    }
}

/// A picture's size from its header, and for a GIF whether it has more than one frame.
async fn picture_of(
    file: &tempfile::NamedTempFile,
    kind: FileKind,
    prefix: &[u8],
) -> Option<Picture> {
    let size = imagesize::blob_size(prefix).ok()?;
    let (width, height) = (
        u32::try_from(size.width).ok()?,
        u32::try_from(size.height).ok()?,
    );
    let animated = if kind.mime == "image/gif" {
        let mut copy = file.reopen().ok()?;
        tokio::task::spawn_blocking(move || {
            copy.rewind().ok()?;
            Some(gif_frames_exceed_one(&mut copy))
        })
        .await
        .ok()
        .flatten()?
    } else {
        false
    };
    Some(Picture {
        width,
        height,
        animated,
    })
}

/// True when a GIF has a second frame (its frames are walked, not decoded).
fn gif_frames_exceed_one(reader: &mut impl Read) -> bool {
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    let Ok(mut decoder) = options.read_info(std::io::BufReader::new(reader)) else {
        return false;
    };
    let mut frames = 0;
    while let Ok(Some(_)) = decoder.next_frame_info() {
        frames += 1;
        if frames > 1 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: u64) -> FileLimits {
        FileLimits {
            max_file_bytes: max,
            allowed_types: files::DEFAULT_ALLOWED_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect(),
            space: u64::MAX,
        }
    }

    fn body(chunks: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, FileError>> + Unpin {
        futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))))
    }

    /// A 2x1 PNG.
    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 2, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x7b, 0x40, 0xe8, 0xdd,
    ];

    #[tokio::test]
    async fn files_are_received_checked_and_kept_once_by_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), limits(1024), None).unwrap();
        let incoming = store
            .receive(body(vec![&PNG[..10], &PNG[10..]]))
            .await
            .unwrap();
        assert_eq!(incoming.kind.mime, "image/png");
        assert_eq!(
            incoming.picture,
            Some(Picture {
                width: 2,
                height: 1,
                animated: false
            })
        );
        let kept = store.keep(incoming).await.unwrap();
        assert_eq!(std::fs::read(store.path_of(&kept.sha256)).unwrap(), PNG);
        let again = store.receive(body(vec![PNG])).await.unwrap();
        let again = store.keep(again).await.unwrap();
        assert_eq!(again, kept);
        assert_eq!(
            std::fs::read_dir(dir.path().join("incoming"))
                .unwrap()
                .count(),
            0,
            "nothing is left half-received"
        );
    }

    #[tokio::test]
    async fn too_large_refused_and_empty_files_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), limits(8), None).unwrap();
        let error = store
            .receive(body(vec![b"0123", b"45678", b"never read"]))
            .await
            .err()
            .unwrap();
        assert!(matches!(error, FileError::TooLarge { limit: 8 }), "{error}");
        let error = store.receive(body(vec![])).await.err().unwrap();
        assert!(matches!(error, FileError::Empty));
        let error = store.receive(body(vec![b"<svg/>"])).await.err().unwrap();
        assert_eq!(error.to_string(), "SVG drawing files are not accepted here");
        assert_eq!(
            std::fs::read_dir(dir.path().join("incoming"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn garbage_is_what_nothing_refers_to_once_old_enough() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path(), limits(1024), None).unwrap();
        let incoming = store.receive(body(vec![b"some notes"])).await.unwrap();
        let kept = store.keep(incoming).await.unwrap();
        let none = HashSet::new();
        assert_eq!(
            store
                .collect_garbage(
                    &none,
                    std::time::Duration::from_secs(3600),
                    std::time::SystemTime::now()
                )
                .unwrap(),
            0,
            "too young to be garbage"
        );
        let referenced: HashSet<String> = [kept.sha256.clone()].into();
        assert_eq!(
            store
                .collect_garbage(
                    &referenced,
                    std::time::Duration::ZERO,
                    std::time::SystemTime::now()
                )
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .collect_garbage(
                    &none,
                    std::time::Duration::ZERO,
                    std::time::SystemTime::now()
                )
                .unwrap(),
            1
        );
        assert!(!store.path_of(&kept.sha256).exists());
    }

    #[test]
    fn animated_gifs_are_told_from_still_ones() {
        // GIF89a, 1x1, global palette of 2, then one or two image descriptors with 1-pixel data.
        let header: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff";
        let frame: &[u8] = b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00";
        let still = [header, frame, b";"].concat();
        let animated = [header, frame, frame, b";"].concat();
        assert!(!gif_frames_exceed_one(&mut &still[..]));
        assert!(gif_frames_exceed_one(&mut &animated[..]));
    }
}
