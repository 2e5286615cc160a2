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
pub const FORMAT: u32 = 7;

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
    /// Directory listings, to skip reading unchanged directories.
    pub dirs: Vec<crate::scan::DirRecord>,
    /// What finding the sources warned about, repeated while the
    /// directories stay as they were.
    pub scan_warnings: Vec<String>,
    /// When some page must be rendered again whatever changes (a calendar
    /// showing today), as seconds since the epoch.
    pub next_change: Option<i64>,
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

/// The records of the last build, with their encoded bytes kept so that
/// records that do not change are written back as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Body {
    pub pages: Vec<PageRecord>,
    raw: Vec<u8>,
    offsets: Vec<u32>,
}

impl Body {
    /// The encoded bytes of record `i`.
    pub fn raw(&self, i: usize) -> &[u8] {
        &self.raw[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Decodes a body: a count, offsets, then one encoded record each.
    fn decode(bytes: &[u8]) -> Result<Body, IndexError> {
        use rayon::prelude::*;
        let corrupt = |m: &str| IndexError::Corrupt(m.to_string());
        if bytes.len() < 4 {
            return Err(corrupt("truncated body"));
        }
        let count = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        let table = 4 + 4 * (count + 1);
        if bytes.len() < table {
            return Err(corrupt("truncated body"));
        }
        let offsets: Vec<u32> = (0..=count)
            .map(|i| u32::from_le_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()))
            .collect();
        let raw = bytes[table..].to_vec();
        if offsets.windows(2).any(|w| w[0] > w[1])
            || offsets.last().is_some_and(|&e| e as usize > raw.len())
        {
            return Err(corrupt("bad record offsets"));
        }
        let pages: Result<Vec<PageRecord>, IndexError> = (0..count)
            .into_par_iter()
            .map(|i| {
                postcard::from_bytes(&raw[offsets[i] as usize..offsets[i + 1] as usize])
                    .map_err(|e| IndexError::Corrupt(e.to_string()))
            })
            .collect();
        Ok(Body {
            pages: pages?,
            raw,
            offsets,
        })
    }
}

/// One record to write: freshly made, or the bytes of an unchanged one.
pub enum RecordOut<'a> {
    Fresh(Box<PageRecord>),
    Same(&'a [u8]),
}

/// Encodes a body from records.
pub fn encode_body(records: &[RecordOut]) -> Vec<u8> {
    use rayon::prelude::*;
    let encoded: Vec<std::borrow::Cow<[u8]>> = records
        .par_iter()
        .map(|r| match r {
            RecordOut::Fresh(p) => {
                std::borrow::Cow::Owned(postcard::to_allocvec(p).unwrap_or_default())
            }
            RecordOut::Same(b) => std::borrow::Cow::Borrowed(*b),
        })
        .collect();
    let total: usize = encoded.iter().map(|e| e.len()).sum();
    let mut out = Vec::with_capacity(4 + 4 * (records.len() + 1) + total);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    let mut off = 0u32;
    out.extend_from_slice(&off.to_le_bytes());
    for e in &encoded {
        off += e.len() as u32;
        out.extend_from_slice(&off.to_le_bytes());
    }
    for e in &encoded {
        out.extend_from_slice(e);
    }
    out
}

/// A loaded index: the manifest now, the body on demand.
#[derive(Debug)]
pub struct Index {
    pub manifest: Manifest,
    /// Where the body is in the file, when loaded from one.
    body_at: Option<(PathBuf, usize)>,
    body_hash: u64,
    /// The body, when the whole index was given in memory.
    body_bytes: Option<Vec<u8>>,
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

/// Header: magic, format, manifest length, manifest hash, body hash.
const HEADER: usize = 8 + 4 + 8 + 8 + 8;

impl Index {
    /// Reads the header and the manifest; the body stays on disk until
    /// [`body`](Self::body) is called.
    pub fn load(statedir: &Path) -> Result<Index, IndexError> {
        use std::io::Read;
        let path = index_path(statedir);
        let mut f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IndexError::Missing),
            Err(e) => return Err(IndexError::Io(path, e)),
        };
        let mut header = [0u8; HEADER];
        f.read_exact(&mut header)
            .map_err(|_| IndexError::Corrupt("truncated header".into()))?;
        let (mlen, mhash, bhash) = parse_header(&header)?;
        let mut mbytes = vec![0u8; mlen];
        f.read_exact(&mut mbytes)
            .map_err(|_| IndexError::Corrupt("truncated manifest".into()))?;
        Self::from_parts(mbytes, mhash, bhash, Some((path, HEADER + mlen)), None)
    }

    /// Parses a whole index held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Index, IndexError> {
        if bytes.len() < HEADER {
            return Err(IndexError::Corrupt("bad header".into()));
        }
        let (mlen, mhash, bhash) = parse_header(&bytes[..HEADER])?;
        if bytes.len() < HEADER + mlen {
            return Err(IndexError::Corrupt("truncated manifest".into()));
        }
        let m = bytes[HEADER..HEADER + mlen].to_vec();
        let body = bytes[HEADER + mlen..].to_vec();
        Self::from_parts(m, mhash, bhash, None, Some(body))
    }

    fn from_parts(
        mbytes: Vec<u8>,
        mhash: u64,
        bhash: u64,
        body_at: Option<(PathBuf, usize)>,
        body: Option<Vec<u8>>,
    ) -> Result<Index, IndexError> {
        if content_hash(&mbytes) != mhash {
            return Err(IndexError::Corrupt("manifest checksum mismatch".into()));
        }
        let manifest: Manifest =
            postcard::from_bytes(&mbytes).map_err(|e| IndexError::Corrupt(e.to_string()))?;
        Ok(Index {
            manifest,
            body_at,
            body_hash: bhash,
            body_bytes: body,
        })
    }

    /// Reads and decodes the body.
    pub fn body(&self) -> Result<Body, IndexError> {
        let bytes = match (&self.body_bytes, &self.body_at) {
            (Some(b), _) => std::borrow::Cow::Borrowed(b.as_slice()),
            (None, Some((path, offset))) => {
                let all = std::fs::read(path).map_err(|e| IndexError::Io(path.clone(), e))?;
                if all.len() < *offset {
                    return Err(IndexError::Corrupt("truncated body".into()));
                }
                std::borrow::Cow::Owned(all[*offset..].to_vec())
            }
            (None, None) => return Err(IndexError::Corrupt("no body".into())),
        };
        if content_hash(&bytes) != self.body_hash {
            return Err(IndexError::Corrupt("body checksum mismatch".into()));
        }
        let body = Body::decode(&bytes)?;
        if body.pages.len() != self.manifest.files.len() {
            return Err(IndexError::Corrupt("body does not match manifest".into()));
        }
        Ok(body)
    }

    /// Serialises an index from a manifest and an encoded body.
    pub fn to_bytes(manifest: &Manifest, b: &[u8]) -> Vec<u8> {
        let m = postcard::to_allocvec(manifest).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER + m.len() + b.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(m.len() as u64).to_le_bytes());
        out.extend_from_slice(&content_hash(&m).to_le_bytes());
        out.extend_from_slice(&content_hash(b).to_le_bytes());
        out.extend_from_slice(&m);
        out.extend_from_slice(b);
        out
    }

    /// Writes the index atomically.
    pub fn save(
        statedir: &Path,
        manifest: &Manifest,
        records: &[RecordOut],
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(statedir)?;
        let body = encode_body(records);
        crate::write::write_atomic(&index_path(statedir), &Self::to_bytes(manifest, &body))
    }
}

fn parse_header(h: &[u8]) -> Result<(usize, u64, u64), IndexError> {
    if &h[..8] != MAGIC {
        return Err(IndexError::Corrupt("bad header".into()));
    }
    let format = u32::from_le_bytes(h[8..12].try_into().unwrap());
    if format != FORMAT {
        return Err(IndexError::Format(format!(
            "format {format}, expected {FORMAT}"
        )));
    }
    let mlen = u64::from_le_bytes(h[12..20].try_into().unwrap()) as usize;
    if mlen > (1 << 34) {
        return Err(IndexError::Corrupt("impossible manifest length".into()));
    }
    let mhash = u64::from_le_bytes(h[20..28].try_into().unwrap());
    let bhash = u64::from_le_bytes(h[28..36].try_into().unwrap());
    Ok((mlen, mhash, bhash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Manifest, Vec<u8>) {
        let m = Manifest {
            tool: "wikic test".into(),
            destdir: "/out".into(),
            config_hash: 7,
            templates: vec![],
            dirs: vec![],
            scan_warnings: vec![],
            next_change: None,
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
        let b = encode_body(&[RecordOut::Fresh(Box::new(PageRecord {
            kind: Some("mdwn".into()),
            links: vec!["a".into()],
            outputs: vec![("index.html".into(), 9)],
            ..Default::default()
        }))]);
        (m, b)
    }

    #[test]
    fn round_trips() {
        let (m, b) = sample();
        let idx = Index::from_bytes(Index::to_bytes(&m, &b)).unwrap();
        assert_eq!(idx.manifest, m);
        let body = idx.body().unwrap();
        assert_eq!(body.pages[0].links, vec!["a".to_string()]);
        // An unchanged record is written back byte for byte.
        let again = encode_body(&[RecordOut::Same(body.raw(0))]);
        assert_eq!(again, b);
    }

    #[test]
    fn damage_is_detected_not_fatal() {
        let (m, b) = sample();
        let mut bytes = Index::to_bytes(&m, &b);
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        let idx = Index::from_bytes(bytes).unwrap();
        assert!(
            matches!(idx.body(), Err(IndexError::Corrupt(_))),
            "body damage found when read"
        );
        let mut bytes = Index::to_bytes(&m, &b);
        bytes[HEADER + 2] ^= 0xff;
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
