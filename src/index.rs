//! The persistent index that makes `--refresh` possible: what the last
//! build saw of every source (stamp and content hash), what scanning found
//! (links, tags, metadata), what each page's output depends on, and the
//! outputs it wrote (with content hashes).
//!
//! Stored at `srcdir/.wikic/index` — named so it cannot be confused with
//! ikiwiki's `.ikiwiki/indexdb` — in a compact binary form (postcard):
//! a small manifest of stamps, enough to see that nothing changed, then
//! the body, decoded only when something did. Any mismatch — format,
//! wikic version, setup — or corruption means a full rebuild, never a
//! crash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::wiki::Meta;

const MAGIC: &[u8; 8] = b"WIKICIX\0";
/// Bumped whenever the layout or the meaning of a field changes.
pub const FORMAT: u32 = 2;

/// Identifies a source file's state without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub mtime_ns: i64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to its root.
    pub rel: String,
    /// 0 for srcdir, 1.. for the underlays in order, `u16::MAX` built in.
    pub root: u16,
    pub stamp: Stamp,
    /// xxh3 of the content, for files read; 0 when not computed.
    pub hash: u64,
    /// Modified too close to the last build for the stamp to be trusted
    /// (a later edit in the same clock tick keeps it): check the content
    /// next time.
    pub racy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    /// Where the outputs listed in the body were written.
    pub destdir: String,
    /// Hash of everything in the setup and environment that affects output.
    pub config_hash: u64,
    /// Stamps of the files in `templatedir`.
    pub templates: Vec<(String, Stamp)>,
    pub files: Vec<FileEntry>,
}

/// What the last build knew about one source, aligned with
/// `Manifest::files`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageRecord {
    pub kind: Option<String>,
    pub internal: bool,
    pub ctime: i64,
    pub mtime: i64,
    pub links: Vec<String>,
    pub typed: Vec<(String, Vec<String>)>,
    pub meta: Meta,
    /// Where each link resolved (page index in this index).
    pub resolved: Vec<Option<u32>>,
    /// Pages whose text the scan of this page read (templates).
    pub scan_deps: Vec<String>,
    /// Pages (lowercased names) and PageSpecs the output depends on.
    pub depends: Vec<(String, u8)>,
    pub depends_spec: Vec<(String, u8)>,
    /// Files written for this source, relative to destdir, with hashes.
    pub outputs: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub pages: Vec<PageRecord>,
}

/// A loaded index: the manifest now, the body on demand.
#[derive(Debug)]
pub struct Index {
    pub manifest: Manifest,
    body_bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("no index yet")]
    Missing,
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("the index was written by another format ({0})")]
    Format(String),
    #[error("the index is damaged ({0})")]
    Corrupt(String),
}

pub fn index_path(statedir: &Path) -> PathBuf {
    statedir.join("index")
}

pub fn content_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

impl Index {
    pub fn load(statedir: &Path) -> Result<Index, IndexError> {
        let path = index_path(statedir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IndexError::Missing),
            Err(e) => return Err(IndexError::Io(path, e)),
        };
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Index, IndexError> {
        if bytes.len() < 28 || &bytes[..8] != MAGIC {
            return Err(IndexError::Corrupt("bad header".into()));
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        if format != FORMAT {
            return Err(IndexError::Format(format!(
                "format {format}, expected {FORMAT}"
            )));
        }
        let mlen = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
        let checksum = u64::from_le_bytes(bytes[20..28].try_into().unwrap());
        let rest = &bytes[28..];
        if mlen > rest.len() || content_hash(rest) != checksum {
            return Err(IndexError::Corrupt("checksum mismatch".into()));
        }
        let manifest: Manifest =
            postcard::from_bytes(&rest[..mlen]).map_err(|e| IndexError::Corrupt(e.to_string()))?;
        let body_bytes = rest[mlen..].to_vec();
        Ok(Index {
            manifest,
            body_bytes,
        })
    }

    pub fn body(&self) -> Result<Body, IndexError> {
        let body: Body = postcard::from_bytes(&self.body_bytes)
            .map_err(|e| IndexError::Corrupt(e.to_string()))?;
        if body.pages.len() != self.manifest.files.len() {
            return Err(IndexError::Corrupt("body does not match manifest".into()));
        }
        Ok(body)
    }

    /// Serialises an index.
    pub fn to_bytes(manifest: &Manifest, body: &Body) -> Vec<u8> {
        let m = postcard::to_allocvec(manifest).unwrap_or_default();
        let b = postcard::to_allocvec(body).unwrap_or_default();
        let mut rest = Vec::with_capacity(m.len() + b.len());
        rest.extend_from_slice(&m);
        rest.extend_from_slice(&b);
        let mut out = Vec::with_capacity(rest.len() + 28);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(m.len() as u64).to_le_bytes());
        out.extend_from_slice(&content_hash(&rest).to_le_bytes());
        out.extend_from_slice(&rest);
        out
    }

    /// Writes the index atomically.
    pub fn save(statedir: &Path, manifest: &Manifest, body: &Body) -> std::io::Result<()> {
        std::fs::create_dir_all(statedir)?;
        crate::write::write_atomic(&index_path(statedir), &Self::to_bytes(manifest, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Manifest, Body) {
        let m = Manifest {
            tool: "wikic test".into(),
            destdir: "/out".into(),
            config_hash: 7,
            templates: vec![],
            files: vec![FileEntry {
                rel: "index.mdwn".into(),
                root: 0,
                stamp: Stamp {
                    mtime_ns: 1,
                    size: 2,
                },
                hash: 3,
                racy: false,
            }],
        };
        let b = Body {
            pages: vec![PageRecord {
                kind: Some("mdwn".into()),
                links: vec!["a".into()],
                outputs: vec![("index.html".into(), 9)],
                ..Default::default()
            }],
        };
        (m, b)
    }

    #[test]
    fn round_trips() {
        let (m, b) = sample();
        let idx = Index::from_bytes(Index::to_bytes(&m, &b)).unwrap();
        assert_eq!(idx.manifest, m);
        assert_eq!(idx.body().unwrap(), b);
    }

    #[test]
    fn damage_is_detected_not_fatal() {
        let (m, b) = sample();
        let mut bytes = Index::to_bytes(&m, &b);
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        assert!(matches!(
            Index::from_bytes(bytes),
            Err(IndexError::Corrupt(_))
        ));
        assert!(Index::from_bytes(b"short".to_vec()).is_err());
        let mut wrong = Index::to_bytes(&m, &b);
        wrong[8] = 99;
        assert!(matches!(
            Index::from_bytes(wrong),
            Err(IndexError::Format(_))
        ));
    }
}
