//! The persistent index that makes `--refresh` possible: what the last
//! build saw of every source (stamp and content hash), what scanning found
//! (links, tags, metadata), what each page's output depends on, and the
//! outputs it wrote (with content hashes).
//!
//! A refresh after an edit must not pay for the whole wiki: what rebuilds
//! the wiki model (links, metadata) is decoded up front, what rendering
//! recorded (dependencies, outputs) only for the pages the refresh looks
//! at, found through an index of dependents by name.
//!
//! Stored at `srcdir/.wikic/index` — named so it cannot be confused with
//! ikiwiki's `.ikiwiki/indexdb` — in a compact binary form (postcard):
//! a small manifest of stamps, enough to see that nothing changed, then
//! the body, decoded only when something did. Any mismatch — format,
//! wikic version, setup — or corruption means a full rebuild, never a
//! crash.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"WIKICIX\0";
/// Bumped whenever the layout or the meaning of a field changes.
pub const FORMAT: u32 = 8;

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
    /// Pages and other files published, for reports of builds that find
    /// nothing changed.
    pub counts: (usize, usize),
}

/// What scanning and resolving found in one source, aligned with
/// `Manifest::files`: what a refresh rebuilds the wiki model from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub kind: Option<String>,
    pub internal: bool,
    pub ctime: i64,
    pub mtime: i64,
    pub links: Vec<String>,
    pub typed: crate::wiki::TypedLinks,
    pub meta: crate::wiki::MetaBox,
    /// Where each link resolved (page index in this index).
    pub resolved: Vec<Option<u32>>,
    /// Pages whose text the scan of this page read (templates).
    pub scan_deps: Vec<String>,
    /// When the output must be made again whatever changes (a calendar
    /// showing today), as seconds since the epoch.
    pub until: Option<i64>,
    /// PageSpecs the output depends on, with dependency types: every
    /// refresh matches them against what changed.
    pub depends_spec: Vec<(String, u8)>,
}

/// What rendering one source recorded: read only for the pages a refresh
/// renders again or whose dependencies it checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// Pages (lowercased names) the output depends on, with dependency
    /// types.
    pub depends: Vec<(String, u8)>,
    /// Files written for this source, relative to destdir, with hashes.
    pub outputs: Vec<(String, u64)>,
}

/// Records encoded one by one, with their offsets, so that any one can
/// be decoded alone or copied back unchanged. On disk: a count, `count +
/// 1` offsets, then the records.
#[derive(Debug, Clone, Default, PartialEq)]
struct Table {
    /// Where the records start in the index's bytes.
    start: usize,
    offsets: Vec<u32>,
}

impl Table {
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        self.start + self.offsets[i] as usize..self.start + self.offsets[i + 1] as usize
    }

    fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Reads the table at `at` in `bytes`; returns it and where it ends.
    fn read(bytes: &[u8], at: usize) -> Result<(Table, usize), IndexError> {
        let corrupt = || IndexError::Corrupt("truncated body".to_string());
        let count = u32::from_le_bytes(
            bytes
                .get(at..at + 4)
                .ok_or_else(corrupt)?
                .try_into()
                .unwrap(),
        ) as usize;
        let start = at + 4 + 4 * (count + 1);
        let head = bytes.get(at + 4..start).ok_or_else(corrupt)?;
        let offsets: Vec<u32> = head
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let len = *offsets.last().unwrap_or(&0) as usize;
        if offsets.first() != Some(&0) || offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(IndexError::Corrupt("bad record offsets".into()));
        }
        if bytes.len() < start + len {
            return Err(corrupt());
        }
        Ok((Table { start, offsets }, start + len))
    }

    /// Encodes records as pieces: the count and offsets, then each record.
    fn write<'a, T: Serialize + Sync>(records: &'a [RecordOut<T>], out: &mut Vec<Cow<'a, [u8]>>) {
        use rayon::prelude::*;
        let encoded: Vec<Cow<'a, [u8]>> = records
            .par_iter()
            .map(|r| match r {
                RecordOut::Fresh(p) => Cow::Owned(postcard::to_allocvec(p).unwrap_or_default()),
                RecordOut::Same(b) => Cow::Borrowed(*b),
            })
            .collect();
        let mut head = Vec::with_capacity(4 * (records.len() + 2));
        head.extend_from_slice(&(records.len() as u32).to_le_bytes());
        let mut off = 0u32;
        head.extend_from_slice(&off.to_le_bytes());
        for e in &encoded {
            off += e.len() as u32;
            head.extend_from_slice(&off.to_le_bytes());
        }
        out.push(Cow::Owned(head));
        out.extend(encoded);
    }
}

/// Which pages depend on which names: (hash of the lowercased name, page
/// index), sorted, so a refresh finds the pages a change affects without
/// reading every page's dependencies.
pub type DependentsIndex = Vec<(u64, u32)>;

/// Hash of a dependency name in a [`DependentsIndex`].
pub fn name_hash(name: &str) -> u64 {
    content_hash(name.as_bytes())
}

/// The records of the last build, with their encoded bytes kept so that
/// records that do not change are written back as they are.
#[derive(Debug)]
pub struct Body {
    pub models: Vec<ModelRecord>,
    bytes: Arc<Bytes>,
    model_table: Table,
    output_table: Table,
    outputs: Vec<std::sync::OnceLock<OutputRecord>>,
    pub dependents: DependentsIndex,
}

impl Body {
    /// The encoded model record `i`.
    pub fn model_raw(&self, i: usize) -> &[u8] {
        &self.bytes[self.model_table.range(i)]
    }

    /// The encoded output record `i`.
    pub fn output_raw(&self, i: usize) -> &[u8] {
        &self.bytes[self.output_table.range(i)]
    }

    /// Output record `i`, decoded on first use. The body's checksum was
    /// verified when it was read, so a record that does not decode is a
    /// bug; it reads as empty (logged) rather than stopping the build.
    pub fn output(&self, i: usize) -> &OutputRecord {
        self.outputs[i].get_or_init(|| {
            postcard::from_bytes(self.output_raw(i)).unwrap_or_else(|e| {
                tracing::error!("index record {i} does not decode ({e}); treating it as empty");
                OutputRecord::default()
            })
        })
    }

    /// Decodes every output record (in parallel), for the builds that
    /// need them all.
    pub fn decode_all_outputs(&self) {
        use rayon::prelude::*;
        (0..self.outputs.len()).into_par_iter().for_each(|i| {
            self.output(i);
        });
    }

    /// Pages that recorded a dependency on a name with this hash (a
    /// superset: hashes may collide).
    pub fn dependents_of(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.dependents.partition_point(|(h, _)| *h < hash);
        self.dependents[start..]
            .iter()
            .take_while(move |(h, _)| *h == hash)
            .map(|(_, p)| *p as usize)
    }

    /// Decodes the body starting at `at` in `bytes`: the model table, the
    /// output table, the dependents.
    fn decode(bytes: Arc<Bytes>, at: usize) -> Result<Body, IndexError> {
        use rayon::prelude::*;
        let (model_table, at) = Table::read(&bytes, at)?;
        let (output_table, at) = Table::read(&bytes, at)?;
        let rest = &bytes[at..];
        if model_table.len() != output_table.len() || !rest.len().is_multiple_of(12) {
            return Err(IndexError::Corrupt("inconsistent body".into()));
        }
        let dependents: DependentsIndex = rest
            .chunks_exact(12)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().unwrap()),
                    u32::from_le_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect();
        let models: Result<Vec<ModelRecord>, IndexError> = (0..model_table.len())
            .into_par_iter()
            .map(|i| {
                postcard::from_bytes(&bytes[model_table.range(i)])
                    .map_err(|e| IndexError::Corrupt(e.to_string()))
            })
            .collect();
        Ok(Body {
            models: models?,
            outputs: (0..output_table.len())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            bytes,
            model_table,
            output_table,
            dependents,
        })
    }
}

/// One record to write: freshly made, or the bytes of an unchanged one.
pub enum RecordOut<'a, T> {
    Fresh(Box<T>),
    Same(&'a [u8]),
}

/// An encoded body, as pieces written one after another (unchanged
/// records are not copied).
pub struct EncodedBody<'a> {
    pieces: Vec<Cow<'a, [u8]>>,
}

impl EncodedBody<'_> {
    fn hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for p in &self.pieces {
            h.update(p);
        }
        h.digest()
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces.concat()
    }
}

/// Encodes a body from records and the dependents index (sorted).
pub fn encode_body<'a>(
    models: &'a [RecordOut<ModelRecord>],
    outputs: &'a [RecordOut<OutputRecord>],
    dependents: &[(u64, u32)],
) -> EncodedBody<'a> {
    let mut pieces = Vec::with_capacity(2 * models.len() + 3);
    Table::write(models, &mut pieces);
    Table::write(outputs, &mut pieces);
    let mut deps = Vec::with_capacity(dependents.len() * 12);
    for (h, p) in dependents {
        deps.extend_from_slice(&h.to_le_bytes());
        deps.extend_from_slice(&p.to_le_bytes());
    }
    pieces.push(Cow::Owned(deps));
    EncodedBody { pieces }
}

/// The bytes of an index: the file mapped into memory, or given.
#[derive(Debug)]
enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A loaded index: the manifest now, the body on demand.
#[derive(Debug)]
pub struct Index {
    pub manifest: Manifest,
    bytes: Arc<Bytes>,
    body_hash: u64,
    body_start: usize,
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
    /// Maps the index file and reads its manifest; the body is decoded
    /// when [`body`](Self::body) is called, and only the parts of the
    /// file a refresh looks at are ever read from disk.
    pub fn load(statedir: &Path) -> Result<Index, IndexError> {
        let path = index_path(statedir);
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IndexError::Missing),
            Err(e) => return Err(IndexError::Io(path, e)),
        };
        let len = f
            .metadata()
            .map_err(|e| IndexError::Io(path.clone(), e))?
            .len();
        if len < HEADER as u64 {
            return Err(IndexError::Corrupt("truncated header".into()));
        }
        // SAFETY: the index is only ever replaced by renaming a new file
        // over it (see `save`), never modified in place, and builds hold
        // the wiki's lock, so the mapped file does not change under us.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| IndexError::Io(path, e))?;
        Self::from_mapped(Bytes::Mapped(map))
    }

    /// Parses a whole index held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Index, IndexError> {
        Self::from_mapped(Bytes::Owned(bytes))
    }

    fn from_mapped(bytes: Bytes) -> Result<Index, IndexError> {
        if bytes.len() < HEADER {
            return Err(IndexError::Corrupt("bad header".into()));
        }
        let (mlen, mhash, bhash) = parse_header(&bytes[..HEADER])?;
        let mbytes = bytes
            .get(HEADER..HEADER + mlen)
            .ok_or_else(|| IndexError::Corrupt("truncated manifest".into()))?;
        if content_hash(mbytes) != mhash {
            return Err(IndexError::Corrupt("manifest checksum mismatch".into()));
        }
        let manifest: Manifest =
            postcard::from_bytes(mbytes).map_err(|e| IndexError::Corrupt(e.to_string()))?;
        Ok(Index {
            manifest,
            bytes: Arc::new(bytes),
            body_hash: bhash,
            body_start: HEADER + mlen,
        })
    }

    /// Checks and decodes the body.
    pub fn body(&self) -> Result<Body, IndexError> {
        if content_hash(&self.bytes[self.body_start..]) != self.body_hash {
            return Err(IndexError::Corrupt("body checksum mismatch".into()));
        }
        let body = Body::decode(self.bytes.clone(), self.body_start)?;
        if body.models.len() != self.manifest.files.len() {
            return Err(IndexError::Corrupt("body does not match manifest".into()));
        }
        Ok(body)
    }

    fn header(manifest: &[u8], body_hash: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(manifest.len() as u64).to_le_bytes());
        out.extend_from_slice(&content_hash(manifest).to_le_bytes());
        out.extend_from_slice(&body_hash.to_le_bytes());
        out
    }

    /// Serialises an index from a manifest and an encoded body.
    pub fn to_bytes(manifest: &Manifest, body: &[u8]) -> Vec<u8> {
        let m = postcard::to_allocvec(manifest).unwrap_or_default();
        let mut out = Self::header(&m, content_hash(body));
        out.extend_from_slice(&m);
        out.extend_from_slice(body);
        out
    }

    /// Writes the index atomically, piece by piece.
    pub fn save(statedir: &Path, manifest: &Manifest, body: &EncodedBody) -> std::io::Result<()> {
        std::fs::create_dir_all(statedir)?;
        // Sized ahead: grown by doubling, the buffer cost more (copies and
        // fresh pages) than encoding into it.
        let entries: usize = manifest.dirs.iter().map(|d| d.entries.len() + 1).sum();
        let capacity = 64 * (manifest.files.len() + entries) + 4096;
        let m = postcard::to_extend(manifest, Vec::with_capacity(capacity)).unwrap_or_default();
        let header = Self::header(&m, body.hash());
        let parts: Vec<&[u8]> = [header.as_slice(), m.as_slice()]
            .into_iter()
            .chain(body.pieces.iter().map(|p| p.as_ref()))
            .collect();
        crate::write::write_atomic_parts(&index_path(statedir), &parts)
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
            counts: (1, 0),
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
        let models = [RecordOut::Fresh(Box::new(ModelRecord {
            kind: Some("mdwn".into()),
            links: vec!["a".into()],
            ..Default::default()
        }))];
        let outputs = [RecordOut::Fresh(Box::new(OutputRecord {
            depends: vec![("b".into(), 1)],
            outputs: vec![("index.html".into(), 9)],
        }))];
        let encoded = encode_body(&models, &outputs, &[(name_hash("b"), 0)]);
        // What `save` writes piece by piece hashes as the whole does.
        assert_eq!(encoded.hash(), content_hash(&encoded.to_vec()));
        (m, encoded.to_vec())
    }

    #[test]
    fn round_trips() {
        let (m, b) = sample();
        let idx = Index::from_bytes(Index::to_bytes(&m, &b)).unwrap();
        assert_eq!(idx.manifest, m);
        let body = idx.body().unwrap();
        assert_eq!(body.models[0].links, vec!["a".to_string()]);
        assert_eq!(body.output(0).outputs[0].0, "index.html");
        assert_eq!(body.dependents_of(name_hash("b")).collect::<Vec<_>>(), [0]);
        assert_eq!(body.dependents_of(name_hash("c")).count(), 0);
        // Unchanged records are written back byte for byte.
        let models = [RecordOut::Same(body.model_raw(0))];
        let outputs = [RecordOut::Same(body.output_raw(0))];
        let again = encode_body(&models, &outputs, &body.dependents);
        assert_eq!(again.to_vec(), b);
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
