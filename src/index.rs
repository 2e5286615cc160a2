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
//! Stored under `srcdir/.wikic/` — named so it cannot be confused with
//! ikiwiki's `.ikiwiki/indexdb` — in a compact binary form (postcard): a
//! small head file, `index`, naming segment files by their content hash
//! (`index-names-…`, `index-models-…`), and holding the small segments
//! that change with every edit (the stamps and the tables' patches)
//! itself. The manifest's segments (names, stamps, directories) are
//! enough to see that nothing changed; the body's (models, outputs,
//! dependents) are read only when something did. A build writes only the
//! segment files whose content changed, so an edit rewrites the head file
//! alone, not the whole index. Any mismatch —
//! format, wikic version, setup — or corruption means a full rebuild,
//! never a crash.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"WIKICIX\0";
/// Bumped whenever the layout or the meaning of a field changes.
pub const FORMAT: u32 = 14;

/// Identifies a source file's state without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub mtime_ns: i64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to its root.
    pub rel: std::sync::Arc<str>,
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
    /// The positions of `files` in the order of their pages' lowercased
    /// names, as the wiki sorts them (empty when not known): with the same
    /// sources in the same order, the next build need not sort again.
    pub lc_order: Vec<u32>,
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
/// `Manifest::files`: what a refresh rebuilds the wiki model from. The
/// fields every refresh needs of every page come first, so that they
/// are read as a [`Summary`] without decoding the rest (links and
/// metadata are decoded for the pages a refresh looks at).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub kind: Option<String>,
    pub internal: bool,
    /// Where each link resolved (page index in this index).
    pub resolved: Vec<Option<u32>>,
    /// When the output must be made again whatever changes (a calendar
    /// showing today), as seconds since the epoch.
    pub until: Option<i64>,
    /// Pages whose text the scan of this page read (templates).
    pub scan_deps: Vec<String>,
    /// PageSpecs the output depends on, with dependency types: every
    /// refresh matches them against what changed.
    pub depends_spec: Vec<(String, u8)>,
    pub links: Vec<String>,
    pub typed: crate::wiki::TypedLinks,
    pub meta: crate::wiki::MetaBox,
}

/// The leading fields of a [`ModelRecord`] — kind, internal flag,
/// resolved links, `until`, scan dependencies, PageSpec dependencies —
/// read in place into [`Summaries`]: straight into its arrays, without a
/// vector of their own for each record.
struct SummaryOf<'s>(&'s mut Summaries);

impl<'de> serde::de::DeserializeSeed<'de> for SummaryOf<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_tuple(6, self)
    }
}

impl<'de> serde::de::Visitor<'de> for SummaryOf<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a model record")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let s = self.0;
        let short = |n| A::Error::invalid_length(n, &"a model record");
        seq.next_element::<Option<&str>>()?
            .ok_or_else(|| short(0))?;
        seq.next_element::<bool>()?.ok_or_else(|| short(1))?;
        seq.next_element_seed(each(|t: Option<u32>| s.targets.push(t)))?
            .ok_or_else(|| short(2))?;
        let until = seq.next_element::<Option<i64>>()?.ok_or_else(|| short(3))?;
        seq.next_element_seed(each(|d: &str| s.scan_deps.push(name_hash(d))))?
            .ok_or_else(|| short(4))?;
        let mut specs = 0usize;
        seq.next_element_seed(each(|_: (&str, u8)| specs += 1))?
            .ok_or_else(|| short(5))?;
        s.target_ends.push(s.targets.len() as u32);
        s.dep_ends.push(s.scan_deps.len() as u32);
        s.until.push(until);
        s.has_depends_spec.push(specs > 0);
        Ok(())
    }
}

/// A sequence read element by element (of type `T`) into `F`.
struct Each<T, F>(F, std::marker::PhantomData<fn(T)>);

fn each<T, F: FnMut(T)>(f: F) -> Each<T, F> {
    Each(f, std::marker::PhantomData)
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> serde::de::DeserializeSeed<'de> for Each<T, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> serde::de::Visitor<'de> for Each<T, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(x) = seq.next_element::<T>()? {
            (self.0)(x);
        }
        Ok(())
    }
}

/// What a refresh needs of one page's model record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary<'a> {
    /// Where each link resolved (page index in this index).
    pub resolved: &'a [Option<u32>],
    pub until: Option<i64>,
    /// Hashes ([`name_hash`]) of the pages the scan read.
    pub scan_deps: &'a [u64],
    /// Whether the output depends on PageSpecs.
    pub has_depends_spec: bool,
}

/// The [`Summary`] of every model record, in flat arrays: a refresh
/// decodes them all, and a few thousand small vectors of their own would
/// cost more to allocate (and to fault in) than the decoding itself.
#[derive(Debug, Default, PartialEq)]
pub struct Summaries {
    targets: Vec<Option<u32>>,
    /// Where each record's targets end in `targets` (they start where
    /// the previous record's end).
    target_ends: Vec<u32>,
    scan_deps: Vec<u64>,
    dep_ends: Vec<u32>,
    until: Vec<Option<i64>>,
    has_depends_spec: Vec<bool>,
}

/// Where record `i`'s part of a flat array is, given each record's end.
fn span(ends: &[u32], i: usize) -> std::ops::Range<usize> {
    let start = i.checked_sub(1).map_or(0, |p| ends[p] as usize);
    start..ends[i] as usize
}

impl Summaries {
    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    pub fn get(&self, i: usize) -> Summary<'_> {
        Summary {
            resolved: self.resolved(i),
            until: self.until[i],
            scan_deps: self.scan_deps(i),
            has_depends_spec: self.has_depends_spec[i],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Summary<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// [`Summary::resolved`] of record `i` alone (asked for every page
    /// of a refresh).
    pub fn resolved(&self, i: usize) -> &[Option<u32>] {
        &self.targets[span(&self.target_ends, i)]
    }

    /// [`Summary::scan_deps`] of record `i` alone.
    pub fn scan_deps(&self, i: usize) -> &[u64] {
        &self.scan_deps[span(&self.dep_ends, i)]
    }

    fn with_capacity(records: usize, links: usize) -> Summaries {
        Summaries {
            targets: Vec::with_capacity(links),
            target_ends: Vec::with_capacity(records),
            scan_deps: Vec::with_capacity(links),
            dep_ends: Vec::with_capacity(records),
            until: Vec::with_capacity(records),
            has_depends_spec: Vec::with_capacity(records),
        }
    }

    /// Adds the summary of an encoded model record.
    fn push(&mut self, record: &[u8]) -> Result<(), postcard::Error> {
        use serde::de::DeserializeSeed;
        let mut d = postcard::Deserializer::from_bytes(record);
        SummaryOf(self).deserialize(&mut d)
    }
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
    /// Where the records start in the segment's bytes.
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

    /// Reads the table that starts at `at` in `bytes` and fills the rest.
    fn read(bytes: &[u8], at: usize) -> Result<Table, IndexError> {
        let corrupt = || IndexError::Corrupt("truncated table".to_string());
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
        if bytes.len() != start + len {
            return Err(corrupt());
        }
        Ok(Table { start, offsets })
    }

    /// Encodes records as pieces: the count and offsets, then each record.
    fn write<'a>(records: Vec<Cow<'a, [u8]>>) -> Vec<Cow<'a, [u8]>> {
        let mut head = Vec::with_capacity(4 * (records.len() + 2));
        head.extend_from_slice(&(records.len() as u32).to_le_bytes());
        let mut off = 0u32;
        head.extend_from_slice(&off.to_le_bytes());
        for e in &records {
            off += e.len() as u32;
            head.extend_from_slice(&off.to_le_bytes());
        }
        let mut out = Vec::with_capacity(records.len() + 1);
        out.push(Cow::Owned(head));
        out.extend(records);
        out
    }
}

/// A table as read: the records of its base segment, some replaced by
/// those of its patch segment. A build that changes a few records of a
/// wiki whose sources are the same writes only a patch (the changed
/// records, with their positions) and keeps the base; once the patch
/// grows past a quarter of the base, the whole table is written again.
/// On disk, a patch is a count, that many positions in increasing order,
/// then the records as a [`Table`].
#[derive(Debug)]
struct Records {
    base: Bytes,
    base_ref: SegRef,
    table: Table,
    patch: Bytes,
    /// The positions the patch replaces, sorted, and its records.
    patched: Vec<u32>,
    patch_table: Table,
}

impl Records {
    fn read(base: Bytes, base_ref: SegRef, patch: Bytes) -> Result<Records, IndexError> {
        let table = Table::read(&base, 0)?;
        let (patched, patch_table) = if patch.is_empty() {
            (Vec::new(), Table::default())
        } else {
            let corrupt = || IndexError::Corrupt("bad table patch".to_string());
            let word = |i: usize| -> Result<u32, IndexError> {
                Ok(u32::from_le_bytes(
                    patch.get(i..i + 4).ok_or_else(corrupt)?.try_into().unwrap(),
                ))
            };
            let count = word(0)? as usize;
            let patched = (0..count)
                .map(|k| word(4 + 4 * k))
                .collect::<Result<Vec<u32>, _>>()?;
            let patch_table = Table::read(&patch, 4 + 4 * count)?;
            if patch_table.len() != count
                || patched.windows(2).any(|w| w[0] >= w[1])
                || patched.last().is_some_and(|&p| p as usize >= table.len())
            {
                return Err(corrupt());
            }
            (patched, patch_table)
        };
        Ok(Records {
            base,
            base_ref,
            table,
            patch,
            patched,
            patch_table,
        })
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    /// The encoded size of the records.
    fn bytes_len(&self) -> usize {
        self.base.len() + self.patch.len()
    }

    fn base_raw(&self, i: usize) -> &[u8] {
        &self.base[self.table.range(i)]
    }

    fn raw(&self, i: usize) -> &[u8] {
        match self.patched.binary_search(&(i as u32)) {
            Ok(k) => &self.patch[self.patch_table.range(k)],
            Err(_) => self.base_raw(i),
        }
    }

    /// Encodes `records` against this table, as a patch when they are
    /// this table's records (the same sources in the same order) and few
    /// differ from the base; as a whole table otherwise.
    fn encode<'a>(this: Option<&Records>, records: Vec<Cow<'a, [u8]>>) -> EncodedTable<'a> {
        let Some(old) = this.filter(|o| o.len() == records.len()) else {
            return EncodedTable::Whole(Table::write(records));
        };
        let limit = old.base.len() / 4;
        let mut positions: Vec<u32> = Vec::new();
        let mut changed: Vec<Cow<'_, [u8]>> = Vec::new();
        let mut size = 0;
        for (i, r) in records.iter().enumerate() {
            let base = old.base_raw(i);
            // A record read from the base is the base's: skip comparing.
            if std::ptr::eq(r.as_ref(), base) || r.as_ref() == base {
                continue;
            }
            size += r.len() + 8;
            if size > limit {
                return EncodedTable::Whole(Table::write(records));
            }
            positions.push(i as u32);
            changed.push(Cow::Borrowed(r.as_ref()));
        }
        let mut patch = Vec::new();
        if !positions.is_empty() {
            patch.reserve(8 + 4 * positions.len() + size);
            patch.extend_from_slice(&(positions.len() as u32).to_le_bytes());
            for i in &positions {
                patch.extend_from_slice(&i.to_le_bytes());
            }
            for piece in Table::write(changed) {
                patch.extend_from_slice(&piece);
            }
        }
        EncodedTable::Patch {
            base: old.base_ref,
            patch,
        }
    }
}

/// Which pages depend on which names: (hash of the lowercased name, page
/// index), sorted, so a refresh finds the pages a change affects without
/// reading every page's dependencies. Read in place from the segment:
/// a refresh looks up a few names of thousands of entries.
#[derive(Debug)]
pub struct Dependents {
    /// Entries of 12 bytes: the hash, then the page index, little-endian.
    bytes: Bytes,
}

impl Dependents {
    const WIDTH: usize = 12;

    pub fn len(&self) -> usize {
        self.bytes.len() / Self::WIDTH
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn get(&self, k: usize) -> (u64, u32) {
        let e = &self.bytes[k * Self::WIDTH..(k + 1) * Self::WIDTH];
        (
            u64::from_le_bytes(e[..8].try_into().unwrap()),
            u32::from_le_bytes(e[8..].try_into().unwrap()),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0..self.len()).map(|k| self.get(k))
    }

    /// The encoded entries, as the segment holds them.
    fn raw(&self) -> &[u8] {
        &self.bytes
    }

    /// The entries as the segment holds them.
    pub fn encode(entries: &[(u64, u32)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(entries.len() * Self::WIDTH);
        for (h, p) in entries {
            out.extend_from_slice(&h.to_le_bytes());
            out.extend_from_slice(&p.to_le_bytes());
        }
        out
    }
}

/// Hash of a dependency name in [`Dependents`].
pub fn name_hash(name: &str) -> u64 {
    content_hash(name.as_bytes())
}

/// The records of the last build, with their encoded bytes kept so that
/// records that do not change are written back as they are. Of the
/// model records, only the summaries are decoded up front.
#[derive(Debug)]
pub struct Body {
    summaries: Summaries,
    /// Boxed: most are never decoded, and an unboxed record is large.
    models: Vec<std::sync::OnceLock<Box<ModelRecord>>>,
    model_records: Records,
    output_records: Records,
    /// Boxed, as the models: most are never decoded in a refresh.
    outputs: Vec<std::sync::OnceLock<Box<OutputRecord>>>,
    pub dependents: Dependents,
}

/// Decodes a record whose segment's checksum was verified when it was
/// read: one that does not decode is a bug, read as empty (logged)
/// rather than stopping the build.
fn decode_record<'a, T: Deserialize<'a> + Default>(bytes: &'a [u8], what: &str, i: usize) -> T {
    postcard::from_bytes(bytes).unwrap_or_else(|e| {
        tracing::error!("index {what} record {i} does not decode ({e}); treating it as empty");
        T::default()
    })
}

impl Body {
    /// What a refresh needs of model record `i`, without decoding it.
    pub fn summary(&self, i: usize) -> Summary<'_> {
        self.summaries.get(i)
    }

    pub fn summaries(&self) -> impl Iterator<Item = Summary<'_>> {
        self.summaries.iter()
    }

    /// The scan dependencies of model record `i` (see [`Summary`]).
    pub fn scan_deps(&self, i: usize) -> &[u64] {
        self.summaries.scan_deps(i)
    }

    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    /// The encoded model record `i`.
    pub fn model_raw(&self, i: usize) -> &[u8] {
        self.model_records.raw(i)
    }

    /// The encoded output record `i`.
    pub fn output_raw(&self, i: usize) -> &[u8] {
        self.output_records.raw(i)
    }

    /// Model record `i`, decoded on first use.
    pub fn model(&self, i: usize) -> &ModelRecord {
        self.models[i].get_or_init(|| Box::new(decode_record(self.model_raw(i), "model", i)))
    }

    /// Output record `i`, decoded on first use.
    pub fn output(&self, i: usize) -> &OutputRecord {
        self.outputs[i].get_or_init(|| Box::new(decode_record(self.output_raw(i), "output", i)))
    }

    /// The first of output record `i`'s page dependencies for which
    /// `hit` holds. Read in place when the record is not decoded: a page
    /// listing thousands of others records as many dependencies, and a
    /// refresh that only looks for one need not allocate them all.
    pub fn find_depend(&self, i: usize, mut hit: impl FnMut(&str, u8) -> bool) -> Option<String> {
        if let Some(r) = self.outputs[i].get() {
            return r
                .depends
                .iter()
                .find(|(d, t)| hit(d, *t))
                .map(|(d, _)| d.clone());
        }
        struct Find<F>(F);
        impl<'de, F: FnMut(&str, u8) -> bool> serde::de::Visitor<'de> for Find<F> {
            type Value = Option<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("page dependencies")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                mut self,
                mut seq: A,
            ) -> Result<Option<String>, A::Error> {
                while let Some((d, t)) = seq.next_element::<(&str, u8)>()? {
                    if (self.0)(d, t) {
                        return Ok(Some(d.to_string()));
                    }
                }
                Ok(None)
            }
        }
        // The dependencies are the record's first field.
        let mut de = postcard::Deserializer::from_bytes(self.output_raw(i));
        serde::Deserializer::deserialize_seq(&mut de, Find(&mut hit)).unwrap_or_else(|e| {
            tracing::error!("index output record {i} does not decode ({e}); treating it as empty");
            None
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
        let d = &self.dependents;
        // The first entry with this hash, by bisection.
        let (mut lo, mut hi) = (0, d.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if d.get(mid).0 < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo..d.len())
            .map(|k| d.get(k))
            .take_while(move |(h, _)| *h == hash)
            .map(|(_, p)| p as usize)
    }

    /// Decodes the body from its tables and the dependents.
    fn decode(models: Records, outputs: Records, deps: Bytes) -> Result<Body, IndexError> {
        if models.len() != outputs.len() || !deps.len().is_multiple_of(Dependents::WIDTH) {
            return Err(IndexError::Corrupt("inconsistent body".into()));
        }
        let dependents = Dependents { bytes: deps };
        // Sized for the most the records can hold (a target or a name
        // takes a byte at least): memory never touched costs nothing,
        // while growing by doubling faults in twice what is kept. Faulting
        // in memory is most of the cost, which is why one thread decodes
        // all (two were no faster).
        let bytes = models.bytes_len();
        let mut summaries = Summaries::with_capacity(models.len(), bytes);
        for i in 0..models.len() {
            summaries
                .push(models.raw(i))
                .map_err(|e| IndexError::Corrupt(e.to_string()))?;
        }
        Ok(Body {
            summaries,
            models: (0..models.len())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            outputs: (0..outputs.len())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            model_records: models,
            output_records: outputs,
            dependents,
        })
    }
}

impl crate::wiki::ScanSource for Body {
    fn resolved(&self, i: usize) -> &[Option<u32>] {
        self.summaries.resolved(i)
    }

    /// Decoded from the record's bytes without keeping the record: the
    /// page keeps what it needs.
    fn scan_data(&self, i: usize) -> crate::wiki::ScanData {
        let m: ModelRecord = match self.models[i].get() {
            Some(m) => (**m).clone(),
            None => decode_record(self.model_raw(i), "model", i),
        };
        crate::wiki::ScanData {
            links: m.links,
            typed: m.typed,
            meta: m.meta,
        }
    }
}

/// One record to write: freshly made, or the bytes of an unchanged one.
pub enum RecordOut<'a, T> {
    Fresh(Box<T>),
    Same(&'a [u8]),
}

/// Records encoded (fresh ones in parallel), unchanged ones borrowed.
fn encode_records<'a, T: Serialize + Sync>(records: &'a [RecordOut<T>]) -> Vec<Cow<'a, [u8]>> {
    use rayon::prelude::*;
    records
        .par_iter()
        .map(|r| match r {
            RecordOut::Fresh(p) => Cow::Owned(postcard::to_allocvec(p).unwrap_or_default()),
            RecordOut::Same(b) => Cow::Borrowed(*b),
        })
        .collect()
}

/// A table to write.
enum EncodedTable<'a> {
    /// Every record, as pieces: a new base, and no patch.
    Whole(Vec<Cow<'a, [u8]>>),
    /// The base kept, and a patch of the records that differ from it.
    Patch { base: SegRef, patch: Vec<u8> },
}

impl EncodedTable<'_> {
    /// What to write of the table: the base's pieces (none when kept) and
    /// the patch's.
    fn parts(&self) -> (Vec<&[u8]>, Vec<&[u8]>) {
        match self {
            EncodedTable::Whole(pieces) => {
                (pieces.iter().map(|p| p.as_ref()).collect(), Vec::new())
            }
            EncodedTable::Patch { patch, .. } => (Vec::new(), vec![patch.as_slice()]),
        }
    }
}

/// An encoded body: the two tables and the dependents.
pub struct EncodedBody<'a> {
    models: EncodedTable<'a>,
    outputs: EncodedTable<'a>,
    dependents: Cow<'a, [u8]>,
}

/// Encodes a body from records and the dependents (sorted; `None`:
/// those of `old`). With `old`, the body read from the index, whose
/// records are at the same positions (the same sources, in the same
/// order), the tables may be written as patches of its tables.
pub fn encode_body<'a>(
    models: &'a [RecordOut<ModelRecord>],
    outputs: &'a [RecordOut<OutputRecord>],
    dependents: Option<&[(u64, u32)]>,
    old: Option<&'a Body>,
) -> EncodedBody<'a> {
    let dependents = match (dependents, old) {
        (None, Some(o)) => Cow::Borrowed(o.dependents.raw()),
        (d, _) => Cow::Owned(Dependents::encode(d.unwrap_or_default())),
    };
    EncodedBody {
        models: Records::encode(old.map(|b| &b.model_records), encode_records(models)),
        outputs: Records::encode(old.map(|b| &b.output_records), encode_records(outputs)),
        dependents,
    }
}

/// The head file, mapped: it is replaced by renaming a new one over it,
/// never changed in place.
type HeadFile = std::sync::Arc<memmap2::Mmap>;

/// The head file's bytes. Mapped on Unix rather than read: its pages
/// come from the page cache instead of being copied into fresh memory.
/// Elsewhere a copy, since a mapped file cannot be renamed over there.
fn map_head(f: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    #[cfg(unix)]
    {
        // SAFETY: the head file is only ever replaced (a complete file
        // renamed over it), never modified in place, and builds hold the
        // wiki's lock.
        unsafe { memmap2::Mmap::map(f) }
    }
    #[cfg(not(unix))]
    {
        use std::io::Read;
        let mut bytes = Vec::new();
        (&*f).read_to_end(&mut bytes)?;
        let mut m = memmap2::MmapMut::map_anon(bytes.len().max(1))?;
        m[..bytes.len()].copy_from_slice(&bytes);
        let m = m.make_read_only()?;
        Ok(m)
    }
}

/// The bytes of a segment: the file mapped into memory, or none.
#[derive(Debug)]
enum Bytes {
    Mapped(memmap2::Mmap),
    /// A segment held in the head file: that file's bytes, and where.
    Inline(HeadFile, std::ops::Range<usize>),
    Empty,
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Inline(file, at) => &file[at.clone()],
            Bytes::Empty => &[],
        }
    }
}

/// The index is a small head file naming its segments, each a file of
/// its own named by its content hash. A build writes only the segments
/// whose content changed — after an edit, usually just the stamps — and
/// the head last; a crash before the head leaves the last index whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seg {
    /// Each source's root and path: changes when sources come and go.
    Names,
    /// Each source's stamp, content hash and racy flag, fixed width.
    Stamps,
    Dirs,
    Models,
    ModelsPatch,
    Outputs,
    OutputsPatch,
    Dependents,
}

const SEGMENTS: [Seg; 8] = [
    Seg::Names,
    Seg::Stamps,
    Seg::Dirs,
    Seg::Models,
    Seg::ModelsPatch,
    Seg::Outputs,
    Seg::OutputsPatch,
    Seg::Dependents,
];

impl Seg {
    fn name(self) -> &'static str {
        match self {
            Seg::Names => "names",
            Seg::Stamps => "stamps",
            Seg::Dirs => "dirs",
            Seg::Models => "models",
            Seg::ModelsPatch => "models.patch",
            Seg::Outputs => "outputs",
            Seg::OutputsPatch => "outputs.patch",
            Seg::Dependents => "dependents",
        }
    }

    /// Whether the segment is read with the manifest (rather than with
    /// the body).
    fn in_manifest(self) -> bool {
        matches!(self, Seg::Names | Seg::Stamps | Seg::Dirs)
    }

    /// Whether the segment is held in the head file, after the head, in
    /// the order of [`SEGMENTS`]: those an edit changes. A file of their
    /// own would cost a create, a rename and, later, an unlink each
    /// (~0.15 ms apiece on ext4) on every refresh.
    fn inline(self) -> bool {
        matches!(self, Seg::Stamps | Seg::ModelsPatch | Seg::OutputsPatch)
    }
}

/// Where the inline segments lie in a head file whose head ends at
/// `end`: their byte ranges (empty for the others).
fn inline_ranges(
    refs: &[SegRef; 8],
    end: usize,
    file_len: usize,
) -> Result<[std::ops::Range<usize>; 8], IndexError> {
    let mut at = end;
    let mut ranges: [std::ops::Range<usize>; 8] = Default::default();
    for (i, seg) in SEGMENTS.into_iter().enumerate() {
        if seg.inline() {
            let len = usize::try_from(refs[i].len)
                .map_err(|_| IndexError::Corrupt("segment too long".into()))?;
            let stop = at
                .checked_add(len)
                .filter(|&e| e <= file_len)
                .ok_or_else(|| IndexError::Corrupt("truncated head file".into()))?;
            ranges[i] = at..stop;
            at = stop;
        }
    }
    if at != file_len {
        return Err(IndexError::Corrupt(
            "head file longer than its segments".into(),
        ));
    }
    Ok(ranges)
}

/// A segment as the head records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SegRef {
    hash: u64,
    len: u64,
}

impl SegRef {
    fn of(pieces: &[&[u8]]) -> SegRef {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        let mut len = 0;
        for p in pieces {
            h.update(p);
            len += p.len() as u64;
        }
        SegRef {
            hash: h.digest(),
            len,
        }
    }

    fn path(&self, statedir: &Path, seg: Seg) -> PathBuf {
        statedir.join(format!("index-{}-{:016x}", seg.name(), self.hash))
    }
}

/// Segment `seg` of the index whose head file is `file`, wherever it is
/// held, checked against its reference.
fn read_segment(
    statedir: &Path,
    file: &HeadFile,
    inline: &[std::ops::Range<usize>; 8],
    refs: &[SegRef; 8],
    seg: Seg,
) -> Result<Bytes, IndexError> {
    let r = refs[seg as usize];
    if seg.inline() {
        inline_segment(file, inline[seg as usize].clone(), seg, r)
    } else {
        open_segment(statedir, seg, r)
    }
}

/// A segment held in the head file, checked against its reference.
fn inline_segment(
    file: &HeadFile,
    at: std::ops::Range<usize>,
    seg: Seg,
    r: SegRef,
) -> Result<Bytes, IndexError> {
    if r.len == 0 {
        return Ok(Bytes::Empty);
    }
    if content_hash(&file[at.clone()]) != r.hash {
        return Err(IndexError::Corrupt(format!(
            "the {} held in the index does not match it",
            seg.name()
        )));
    }
    Ok(Bytes::Inline(file.clone(), at))
}

/// Maps a segment and checks it against its reference.
fn open_segment(statedir: &Path, seg: Seg, r: SegRef) -> Result<Bytes, IndexError> {
    if r.len == 0 {
        return Ok(Bytes::Empty);
    }
    let path = r.path(statedir, seg);
    let f = std::fs::File::open(&path)
        .map_err(|e| IndexError::Corrupt(format!("segment {} unreadable: {e}", path.display())))?;
    // SAFETY: segments are never modified in place: a segment file is
    // only ever created by renaming a complete file to a name derived from
    // its content, and builds hold the wiki's lock.
    let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| IndexError::Io(path.clone(), e))?;
    if map.len() as u64 != r.len || content_hash(&map) != r.hash {
        return Err(IndexError::Corrupt(format!(
            "segment {} does not match the index",
            path.display()
        )));
    }
    Ok(Bytes::Mapped(map))
}

/// Width of one source's record in the stamps segment: mtime, size,
/// content hash, racy flag.
const STAMP_WIDTH: usize = 8 + 8 + 8 + 1;

fn encode_stamps(files: &[FileEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(files.len() * STAMP_WIDTH);
    for f in files {
        out.extend_from_slice(&f.stamp.mtime_ns.to_le_bytes());
        out.extend_from_slice(&f.stamp.size.to_le_bytes());
        out.extend_from_slice(&f.hash.to_le_bytes());
        out.push(f.racy as u8);
    }
    out
}

/// Sources' names as the names segment holds them, then their order by
/// lowercased page name.
struct NamesOut<'a>(&'a [FileEntry], &'a [u32]);

impl Serialize for NamesOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Names<'a>(&'a [FileEntry]);
        impl Serialize for Names<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|f| (f.root, &*f.rel)))
            }
        }
        (Names(self.0), self.1).serialize(s)
    }
}

/// A postcard varint at `at` (moved past it).
#[inline]
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A postcard length at `at` and the bytes it measures (`at` moved past
/// them).
fn sized<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(varint(b, at)?).ok()?;
    let end = at.checked_add(len)?;
    let bytes = b.get(*at..end)?;
    *at = end;
    Some(bytes)
}

/// A directory record's leading fields as postcard encodes them (see
/// [`DirHead`]), read by hand: a few hundred on every refresh.
fn read_dir_head<'a>(b: &'a [u8], at: &mut usize) -> Option<DirHead<'a>> {
    let root = u16::try_from(varint(b, at)?).ok()?;
    let rel = std::str::from_utf8(sized(b, at)?).ok()?;
    let z = varint(b, at)?;
    let mtime_ns = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let racy = match *b.get(*at)? {
        0 => false,
        1 => true,
        _ => return None,
    };
    *at += 1;
    let entries = sized(b, at)?;
    Some((root, rel, mtime_ns, racy, entries))
}

/// Each source's root and path, and the bytes after them.
type NamesRead<'a> = (Vec<(u16, &'a str)>, &'a [u8]);

/// The names segment's leading sequence of (root, path) as postcard
/// encodes it (a varint count, then a varint root and a length-prefixed
/// path each), and the bytes after it. Read by hand: postcard checks each
/// path's UTF-8 on its own, a few thousand short checks on every refresh,
/// where a few long checks of the segment's text cover them all.
fn read_names(b: &[u8]) -> Option<NamesRead<'_>> {
    // The longest valid UTF-8 from `from`: a stretch of the segment that
    // holds many paths, checked at once.
    fn valid_from(b: &[u8], from: usize) -> (usize, &str) {
        let tail = &b[from..];
        let n = match std::str::from_utf8(tail) {
            Ok(_) => tail.len(),
            Err(e) => e.valid_up_to(),
        };
        // Valid by the check just made.
        (from, std::str::from_utf8(&tail[..n]).unwrap_or_default())
    }
    let mut at = 0;
    let count = usize::try_from(varint(b, &mut at)?).ok()?;
    // A length of 128 or more, or a root of 128 or more, is a byte that
    // is no UTF-8 and ends the stretch: the next one starts at the path
    // after it, so each byte is checked about once.
    let (mut start, mut text) = valid_from(b, at);
    let mut files = Vec::with_capacity(count.min(b.len()));
    for _ in 0..count {
        let root = u16::try_from(varint(b, &mut at)?).ok()?;
        let path = sized(b, &mut at)?;
        let (from, end) = (at - path.len(), at);
        if from < start || end > start + text.len() {
            (start, text) = valid_from(b, from);
        }
        files.push((root, text.get(from - start..end - start)?));
    }
    Some((files, &b[at..]))
}

/// One source's record in the stamps segment: its stamp, content hash
/// and racy flag.
fn read_stamp(c: &[u8]) -> (Stamp, u64, bool) {
    let word = |at: usize| u64::from_le_bytes(c[at..at + 8].try_into().unwrap());
    (
        Stamp {
            mtime_ns: word(0) as i64,
            size: word(8),
        },
        word(16),
        c[24] != 0,
    )
}

/// The head: the manifest's small fields and the segments.
#[derive(Deserialize)]
struct Head {
    tool: String,
    destdir: String,
    config_hash: u64,
    templates: Vec<(String, Stamp)>,
    scan_warnings: Vec<String>,
    next_change: Option<i64>,
    counts: (usize, usize),
    segments: [SegRef; 8],
}

/// [`Head`] as written, borrowing from the manifest.
#[derive(Serialize)]
struct HeadOut<'a> {
    tool: &'a str,
    destdir: &'a str,
    config_hash: u64,
    templates: &'a [(String, Stamp)],
    scan_warnings: &'a [String],
    next_change: Option<i64>,
    counts: (usize, usize),
    segments: [SegRef; 8],
}

/// A loaded index: the manifest now, the body on demand.
#[derive(Debug)]
pub struct Index {
    pub manifest: Manifest,
    statedir: PathBuf,
    segments: [SegRef; 8],
    /// The head file, which holds the inline segments, and where each is.
    file: HeadFile,
    inline: [std::ops::Range<usize>; 8],
    /// Whether the body's segments were read and found whole.
    body_read: std::sync::atomic::AtomicBool,
}

/// The segments a loaded index found whole, for [`Index::save`] to keep
/// rather than write again; and whether the build knows the sources'
/// names and the directory listings to be the same as then, so that
/// their segments are kept without encoding them again (about a
/// millisecond for a wiki of a few thousand pages).
#[derive(Debug, Clone, Copy, Default)]
pub struct Kept {
    refs: [Option<SegRef>; 8],
    same_names: bool,
    same_dirs: bool,
    /// The manifest holds no directory records: they were left encoded.
    dirs_unread: bool,
}

impl Kept {
    /// The sources are the last build's, in the same order.
    pub fn same_names(&mut self) {
        self.same_names = true;
    }

    /// The directory records are the last build's, racy flags included.
    pub fn same_dirs(&mut self) {
        self.same_dirs = true;
    }

    /// The directory records are the last build's and were not decoded
    /// (see [`RawIndex::decode`]): their segment is kept as it is.
    pub fn dirs_unread(&mut self) {
        self.same_dirs = true;
        self.dirs_unread = true;
    }
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

/// An index read and checked but not decoded: the head's fields, and
/// the segments a refresh that finds nothing changed reads in place
/// (see [`RawIndex::listed`]) rather than decoding into owned entries.
pub struct RawIndex {
    head: Head,
    statedir: PathBuf,
    file: HeadFile,
    inline: [std::ops::Range<usize>; 8],
    names: Bytes,
    stamps: Bytes,
    dirs: Bytes,
}

/// A directory record's fields as encoded: root, path, time, racy flag,
/// and its entries left encoded.
type DirHead<'a> = (u16, &'a str, i64, bool, &'a [u8]);

/// What an index lists, borrowed from its segments: each source's root,
/// path and recorded state, and each directory's root, path,
/// modification time and racy flag.
pub struct Listed<'a> {
    pub files: Vec<(u16, &'a str)>,
    stamps: &'a [u8],
    /// The pages' order by lowercased name, still encoded (it follows
    /// the names in their segment).
    order: &'a [u8],
    pub dirs: Vec<(u16, &'a str, i64, bool)>,
}

impl Listed<'_> {
    /// Source `i`'s stamp, content hash and racy flag.
    pub fn stamp(&self, i: usize) -> (Stamp, u64, bool) {
        read_stamp(&self.stamps[i * STAMP_WIDTH..(i + 1) * STAMP_WIDTH])
    }
}

impl RawIndex {
    /// Reads the head file and maps the manifest's segments, checking
    /// each against the head.
    pub fn read(statedir: &Path) -> Result<RawIndex, IndexError> {
        let path = index_path(statedir);
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IndexError::Missing),
            Err(e) => return Err(IndexError::Io(path, e)),
        };
        let bytes = map_head(&f).map_err(|e| IndexError::Io(path, e))?;
        let (head, end) = parse_head(&bytes)?;
        let inline = inline_ranges(&head.segments, end, bytes.len())?;
        let file = std::sync::Arc::new(bytes);
        let open = |seg: Seg| read_segment(statedir, &file, &inline, &head.segments, seg);
        let (names, stamps, dirs) = (open(Seg::Names)?, open(Seg::Stamps)?, open(Seg::Dirs)?);
        Ok(RawIndex {
            head,
            statedir: statedir.to_path_buf(),
            file,
            inline,
            names,
            stamps,
            dirs,
        })
    }

    pub fn tool(&self) -> &str {
        &self.head.tool
    }

    pub fn destdir(&self) -> &str {
        &self.head.destdir
    }

    pub fn config_hash(&self) -> u64 {
        self.head.config_hash
    }

    pub fn templates(&self) -> &[(String, Stamp)] {
        &self.head.templates
    }

    pub fn scan_warnings(&self) -> &[String] {
        &self.head.scan_warnings
    }

    pub fn next_change(&self) -> Option<i64> {
        self.head.next_change
    }

    pub fn counts(&self) -> (usize, usize) {
        self.head.counts
    }

    /// The sources and directories listed, read in place.
    pub fn listed(&self) -> Result<Listed<'_>, IndexError> {
        let (files, order): (Vec<(u16, &str)>, &[u8]) = if self.names.is_empty() {
            (Vec::new(), &[])
        } else {
            read_names(&self.names)
                .ok_or_else(|| IndexError::Corrupt("bad names segment".into()))?
        };
        if self.stamps.len() != files.len() * STAMP_WIDTH {
            return Err(IndexError::Corrupt("stamps do not match names".into()));
        }
        let mut dirs = Vec::new();
        if !self.dirs.is_empty() {
            // A sequence of directory records, each read as its leading
            // fields and its entries left encoded.
            let bad = || IndexError::Corrupt("bad directory records".into());
            let b = &self.dirs[..];
            let mut at = 0;
            let count = varint(b, &mut at)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(bad)?;
            dirs.reserve(count.min(b.len()));
            for _ in 0..count {
                let (root, rel, mtime_ns, racy, _entries) =
                    read_dir_head(b, &mut at).ok_or_else(bad)?;
                dirs.push((root, rel, mtime_ns, racy));
            }
        }
        Ok(Listed {
            files,
            stamps: &self.stamps,
            order,
            dirs,
        })
    }

    /// Decodes the manifest, from what [`listed`](Self::listed) read of
    /// it; without the directory records unless `with_dirs` (a refresh
    /// that found every listing current keeps their segment as it is,
    /// see [`Kept::dirs_unread`]).
    pub fn decode(&self, listed: Listed<'_>, with_dirs: bool) -> Result<Index, IndexError> {
        let corrupt = |e: postcard::Error| IndexError::Corrupt(e.to_string());
        let order: Vec<u32> = if listed.order.is_empty() {
            Vec::new()
        } else {
            postcard::from_bytes(listed.order).map_err(corrupt)?
        };
        if !order.is_empty() && order.len() != listed.files.len() {
            return Err(IndexError::Corrupt(
                "name order does not match names".into(),
            ));
        }
        // The two decodes are independent: made side by side.
        let (files, dirs) = rayon::join(
            || -> Vec<FileEntry> {
                (0..listed.files.len())
                    .map(|i| {
                        let (root, rel) = listed.files[i];
                        let (stamp, hash, racy) = listed.stamp(i);
                        FileEntry {
                            rel: rel.into(),
                            root,
                            stamp,
                            hash,
                            racy,
                        }
                    })
                    .collect()
            },
            || -> Result<Vec<crate::scan::DirRecord>, IndexError> {
                if self.dirs.is_empty() || !with_dirs {
                    Ok(Vec::new())
                } else {
                    postcard::from_bytes(&self.dirs).map_err(corrupt)
                }
            },
        );
        let head = &self.head;
        Ok(Index {
            manifest: Manifest {
                tool: head.tool.clone(),
                destdir: head.destdir.clone(),
                config_hash: head.config_hash,
                templates: head.templates.clone(),
                files,
                lc_order: order,
                dirs: dirs?,
                scan_warnings: head.scan_warnings.clone(),
                next_change: head.next_change,
                counts: head.counts,
            },
            statedir: self.statedir.clone(),
            segments: head.segments,
            file: self.file.clone(),
            inline: self.inline.clone(),
            body_read: false.into(),
        })
    }
}

/// Header of the head file: magic, format, head length, head hash.
const HEADER: usize = 8 + 4 + 8 + 8;

impl Index {
    /// Reads the head and the segments the manifest is made of; the
    /// body is read when [`body`](Self::body) is called.
    pub fn load(statedir: &Path) -> Result<Index, IndexError> {
        let raw = RawIndex::read(statedir)?;
        raw.decode(raw.listed()?, true)
    }

    /// Reads, checks and decodes the body.
    pub fn body(&self) -> Result<Body, IndexError> {
        let open = |seg: Seg| {
            read_segment(
                &self.statedir,
                &self.file,
                &self.inline,
                &self.segments,
                seg,
            )
        };
        let table = |base: Seg, patch: Seg| {
            Records::read(open(base)?, self.segments[base as usize], open(patch)?)
        };
        let body = Body::decode(
            table(Seg::Models, Seg::ModelsPatch)?,
            table(Seg::Outputs, Seg::OutputsPatch)?,
            open(Seg::Dependents)?,
        )?;
        if body.len() != self.manifest.files.len() {
            return Err(IndexError::Corrupt("body does not match manifest".into()));
        }
        self.body_read
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(body)
    }

    /// The segments known whole: the manifest's always, the body's once
    /// read.
    pub fn kept(&self) -> Kept {
        let body = self.body_read.load(std::sync::atomic::Ordering::Relaxed);
        Kept {
            refs: SEGMENTS.map(|s| {
                let known = s.in_manifest() || body;
                known.then_some(self.segments[s as usize])
            }),
            ..Kept::default()
        }
    }

    /// Writes the index: the segments that differ from those in `kept`,
    /// then the head (atomically), then removes segments nothing refers
    /// to any more.
    pub fn save(
        statedir: &Path,
        manifest: &Manifest,
        body: &EncodedBody,
        kept: Kept,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(statedir)?;
        // Segments the build vouches for are not encoded (checked in
        // debug builds).
        let vouched = |seg: Seg, same: bool, unread: bool, encode: &dyn Fn() -> Vec<u8>| match kept
            .refs[seg as usize]
            .filter(|_| same)
        {
            Some(r) => {
                debug_assert!(
                    unread || SegRef::of(&[&encode()]) == r,
                    "{} vouched for",
                    seg.name()
                );
                (r, Vec::new())
            }
            None => {
                let bytes = encode();
                (SegRef::of(&[&bytes]), bytes)
            }
        };
        let (names_ref, names) = vouched(Seg::Names, kept.same_names, false, &|| {
            postcard::to_extend(
                &NamesOut(&manifest.files, &manifest.lc_order),
                Vec::with_capacity(32 * manifest.files.len() + 16),
            )
            .unwrap_or_default()
        });
        let (dirs_ref, dirs) = vouched(Seg::Dirs, kept.same_dirs, kept.dirs_unread, &|| {
            let size: usize = manifest
                .dirs
                .iter()
                .map(|d| d.entries.encoded_len() + d.rel.len() + 24)
                .sum();
            postcard::to_extend(&manifest.dirs, Vec::with_capacity(size + 16)).unwrap_or_default()
        });
        let stamps = encode_stamps(&manifest.files);
        let (models, models_patch) = body.models.parts();
        let (outputs, outputs_patch) = body.outputs.parts();
        let parts: [Vec<&[u8]>; 8] = [
            vec![&names],
            vec![&stamps],
            vec![&dirs],
            models,
            models_patch,
            outputs,
            outputs_patch,
            vec![&body.dependents],
        ];
        let mut refs: [SegRef; 8] = std::array::from_fn(|i| SegRef::of(&parts[i]));
        refs[Seg::Names as usize] = names_ref;
        refs[Seg::Dirs as usize] = dirs_ref;
        let mut kept = kept.refs;
        // A table written as a patch keeps its base, known whole.
        for (seg, table) in [(Seg::Models, &body.models), (Seg::Outputs, &body.outputs)] {
            if let EncodedTable::Patch { base, .. } = table {
                refs[seg as usize] = *base;
                kept[seg as usize] = Some(*base);
            }
        }
        // Segment files nothing names any more appear only when one of
        // them changes: otherwise the directory is not even read.
        let mut files_changed = false;
        for (i, seg) in SEGMENTS.into_iter().enumerate() {
            if seg.inline() {
                continue;
            }
            if kept[i] != Some(refs[i]) {
                files_changed = true;
            }
            if refs[i].len == 0 || kept[i] == Some(refs[i]) {
                continue;
            }
            crate::write::write_atomic_parts(&refs[i].path(statedir, seg), &parts[i])?;
        }
        let head = postcard::to_allocvec(&HeadOut {
            tool: &manifest.tool,
            destdir: &manifest.destdir,
            config_hash: manifest.config_hash,
            templates: &manifest.templates,
            scan_warnings: &manifest.scan_warnings,
            next_change: manifest.next_change,
            counts: manifest.counts,
            segments: refs,
        })
        .unwrap_or_default();
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT.to_le_bytes());
        header.extend_from_slice(&(head.len() as u64).to_le_bytes());
        header.extend_from_slice(&content_hash(&head).to_le_bytes());
        let mut file: Vec<&[u8]> = vec![&header, &head];
        for (i, seg) in SEGMENTS.into_iter().enumerate() {
            if seg.inline() {
                file.extend(parts[i].iter().copied());
            }
        }
        crate::write::write_atomic_parts(&index_path(statedir), &file)?;
        if files_changed {
            remove_unused_segments(statedir, &refs);
        }
        Ok(())
    }
}

/// Removes segment files (and temporary files of segments) the head does
/// not name: those of earlier builds, or of one that stopped before
/// writing its head (removed the next time a segment file changes).
/// Best effort: a stray file costs only disk space.
fn remove_unused_segments(statedir: &Path, refs: &[SegRef; 8]) {
    let current: Vec<String> = SEGMENTS
        .iter()
        .zip(refs)
        .filter(|(s, _)| !s.inline())
        .map(|(s, r)| format!("index-{}-{:016x}", s.name(), r.hash))
        .collect();
    let Ok(dir) = std::fs::read_dir(statedir) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("index-") && !current.iter().any(|c| c == name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The head, and where it ends (the inline segments follow).
fn parse_head(bytes: &[u8]) -> Result<(Head, usize), IndexError> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(IndexError::Corrupt("bad header".into()));
    }
    let format = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if format != FORMAT {
        return Err(IndexError::Format(format!(
            "format {format}, expected {FORMAT}"
        )));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
    let hash = u64::from_le_bytes(bytes[20..28].try_into().unwrap());
    let head = usize::try_from(len)
        .ok()
        .and_then(|len| bytes.get(HEADER..HEADER.checked_add(len)?))
        .ok_or_else(|| IndexError::Corrupt("truncated head".into()))?;
    if content_hash(head) != hash {
        return Err(IndexError::Corrupt("head checksum mismatch".into()));
    }
    let head = postcard::from_bytes(head).map_err(|e| IndexError::Corrupt(e.to_string()))?;
    Ok((head, HEADER + len as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(n: usize) -> Manifest {
        Manifest {
            tool: "wikic test".into(),
            destdir: "/out".into(),
            config_hash: 7,
            templates: vec![],
            lc_order: (0..n as u32).rev().collect(),
            dirs: vec![crate::scan::DirRecord {
                root: 0,
                rel: "".into(),
                mtime_ns: 5,
                racy: false,
                entries: crate::scan::DirEntries::new(vec![("index.mdwn".into(), 0)]),
            }],
            scan_warnings: vec!["w".into()],
            next_change: Some(9),
            counts: (n, 0),
            files: (0..n)
                .map(|i| FileEntry {
                    rel: format!("p{i}.mdwn").into(),
                    root: 0,
                    stamp: Stamp {
                        mtime_ns: i as i64,
                        size: 2,
                    },
                    hash: 3,
                    racy: i % 2 == 0,
                })
                .collect(),
        }
    }

    fn model(i: usize) -> ModelRecord {
        let meta = crate::wiki::Meta {
            title: Some(format!("Title {i}")),
            ..Default::default()
        };
        ModelRecord {
            kind: Some("mdwn".into()),
            internal: i == 2,
            resolved: vec![Some(i as u32), None],
            until: (i == 1).then_some(1_700_000_000),
            scan_deps: if i == 1 {
                vec!["templates/note".into()]
            } else {
                Vec::new()
            },
            depends_spec: if i == 2 {
                vec![("blog/*".into(), 1)]
            } else {
                Vec::new()
            },
            links: vec![format!("target{i}"), "other".into()],
            typed: Default::default(),
            meta: meta.into(),
        }
    }

    fn output(i: usize) -> OutputRecord {
        OutputRecord {
            depends: vec![("b".into(), 1)],
            outputs: vec![(format!("p{i}/index.html"), i as u64)],
        }
    }

    /// Saves fresh records for `n` pages.
    fn save_fresh(dir: &Path, m: &Manifest, kept: Kept) {
        let n = m.files.len();
        let models: Vec<_> = (0..n)
            .map(|i| RecordOut::Fresh(Box::new(model(i))))
            .collect();
        let outputs: Vec<_> = (0..n)
            .map(|i| RecordOut::Fresh(Box::new(output(i))))
            .collect();
        let deps = [(name_hash("b"), 0)];
        Index::save(
            dir,
            m,
            &encode_body(&models, &outputs, Some(&deps), None),
            kept,
        )
        .unwrap();
    }

    /// Records written back as they were read.
    fn unchanged<'b, T>(n: usize, raw: impl Fn(usize) -> &'b [u8]) -> Vec<RecordOut<'b, T>> {
        (0..n).map(|i| RecordOut::Same(raw(i))).collect()
    }

    fn segment_files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("index-"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn names_are_read_as_postcard_wrote_them() {
        let long = "d/".repeat(100) + "long.mdwn";
        let names: Vec<(u16, &str)> = vec![
            (0, "index.mdwn"),
            (1, "sous-répertoire/çà.mdwn"),
            (0, &long),
            (300, "root/beyond/127.mdwn"),
            (0, "after/them.mdwn"),
            (2, ""),
        ];
        let order: Vec<u32> = vec![5, 300, 0];
        let bytes = postcard::to_allocvec(&(&names, &order)).unwrap();
        let (read, rest) = read_names(&bytes).unwrap();
        assert_eq!(read, names);
        let (expected, expected_rest): (Vec<(u16, &str)>, &[u8]) =
            postcard::take_from_bytes(&bytes).unwrap();
        assert_eq!((&read, rest), (&expected, expected_rest));
        // Damage is refused, never a panic: truncated anywhere, a path
        // cut inside a character, an impossible root.
        let names_end = bytes.len() - rest.len();
        for cut in 0..names_end {
            assert!(read_names(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut bad = postcard::to_allocvec(&(&[(0u16, "é")][..], &order)).unwrap();
        bad[2] = 1; // the path's length, now inside "é"
        assert!(read_names(&bad).is_none_or(|(f, _)| f[0].1 != "é"));
        let big_root = postcard::to_allocvec(&(&[(70_000u32, "x")][..], &order)).unwrap();
        assert!(read_names(&big_root).is_none());
        // Long paths (lengths that are no UTF-8) between short ones, some
        // ending in a character of several bytes: read as postcard reads
        // them, each stretch of text checked once.
        let many: Vec<(u16, String)> = (0..300)
            .map(|i| {
                let stem = if i % 7 == 0 {
                    "l".repeat(130 + i)
                } else {
                    format!("p{i}")
                };
                (u16::try_from(i % 3).unwrap(), format!("{stem}/é{i}ß"))
            })
            .collect();
        let bytes = postcard::to_allocvec(&(&many, &order)).unwrap();
        let (read, _) = read_names(&bytes).unwrap();
        let want: Vec<(u16, &str)> = many.iter().map(|(r, p)| (*r, p.as_str())).collect();
        assert_eq!(read, want);
        // A length that ends a path inside a character is refused even
        // where the byte after it would complete the character.
        let mut split = postcard::to_allocvec(&(&[(0u16, "aé"), (0, "b")][..], &order)).unwrap();
        assert_eq!(split[2], 3);
        split[2] = 2; // "a" and the first byte of "é"; the next starts with its second
        assert!(read_names(&split).is_none());
    }

    #[test]
    fn directory_heads_are_read_as_postcard_wrote_them() {
        use crate::scan::{DirEntries, DirRecord};
        let entries = DirEntries::new(vec![("a.mdwn".to_string(), 1), ("sub".to_string(), 2)]);
        let recs: Vec<DirRecord> = [
            (0u16, "", 5i64, false),
            (300, "sous-répertoire/ça", -1_700_000_000_123_456_789, true),
            (2, &"x/".repeat(90), i64::MAX, false),
            (1, "min", i64::MIN, true),
        ]
        .into_iter()
        .map(|(root, rel, mtime_ns, racy)| DirRecord {
            root,
            rel: rel.to_string(),
            mtime_ns,
            racy,
            entries: entries.clone(),
        })
        .collect();
        for r in &recs {
            let bytes = postcard::to_allocvec(r).unwrap();
            let mut at = 0;
            let head = read_dir_head(&bytes, &mut at).unwrap();
            let (want, rest): (DirHead, &[u8]) = postcard::take_from_bytes(&bytes).unwrap();
            assert_eq!(head, want);
            assert_eq!(at, bytes.len() - rest.len());
            assert_eq!(
                (head.0, head.1, head.2, head.3),
                (r.root, &*r.rel, r.mtime_ns, r.racy)
            );
            // Damage is refused, never a panic.
            for cut in 0..bytes.len() {
                assert!(
                    read_dir_head(&bytes[..cut], &mut 0).is_none(),
                    "cut at {cut}"
                );
            }
        }
        let mut bad = postcard::to_allocvec(&recs[0]).unwrap();
        bad[3] = 2; // the racy flag: neither 0 nor 1
        assert!(read_dir_head(&bad, &mut 0).is_none());
        // The whole segment, as `listed` reads it.
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest(2);
        m.dirs = recs.clone();
        save_fresh(dir.path(), &m, Kept::default());
        let raw = RawIndex::read(dir.path()).unwrap();
        let listed = raw.listed().unwrap();
        let want: Vec<(u16, &str, i64, bool)> = recs
            .iter()
            .map(|r| (r.root, &*r.rel, r.mtime_ns, r.racy))
            .collect();
        assert_eq!(listed.dirs, want);
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(3);
        save_fresh(dir.path(), &m, Kept::default());
        // Listed in place: what the decoded manifest holds.
        let raw = RawIndex::read(dir.path()).unwrap();
        let listed = raw.listed().unwrap();
        let files: Vec<(u16, &str)> = m.files.iter().map(|f| (f.root, &*f.rel)).collect();
        assert_eq!(listed.files, files);
        for (i, f) in m.files.iter().enumerate() {
            assert_eq!(listed.stamp(i), (f.stamp, f.hash, f.racy));
        }
        assert_eq!(listed.dirs, [(0, "", 5, false)]);
        assert_eq!((raw.counts(), raw.next_change()), ((3, 0), Some(9)));
        assert_eq!(raw.decode(listed, true).unwrap().manifest, m);
        let idx = Index::load(dir.path()).unwrap();
        assert_eq!(idx.manifest, m);
        let body = idx.body().unwrap();
        // Summaries are read from the leading fields of the records alone.
        for i in 0..3 {
            let m = model(i);
            let deps: Vec<u64> = m.scan_deps.iter().map(|d| name_hash(d)).collect();
            assert_eq!(
                body.summary(i),
                Summary {
                    resolved: &m.resolved,
                    until: m.until,
                    scan_deps: &deps,
                    has_depends_spec: !m.depends_spec.is_empty(),
                }
            );
            use crate::wiki::ScanSource;
            assert_eq!(
                (body.resolved(i), body.scan_deps(i)),
                (&m.resolved[..], &deps[..])
            );
            let scan = body.scan_data(i);
            assert_eq!((scan.links, scan.meta), (m.links.clone(), m.meta.clone()));
            assert_eq!(*body.model(i), m);
        }
        // Dependencies are looked for in place, then in the decoded record.
        for _ in 0..2 {
            assert_eq!(
                body.find_depend(2, |d, t| d == "b" && t == 1),
                Some("b".into())
            );
            assert_eq!(body.find_depend(2, |d, _| d == "c"), None);
            assert_eq!(*body.output(2), output(2));
        }
        assert_eq!(body.dependents_of(name_hash("b")).collect::<Vec<_>>(), [0]);
        assert_eq!(body.dependents_of(name_hash("c")).count(), 0);
    }

    #[test]
    fn an_edit_writes_the_head_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = manifest(40);
        save_fresh(dir.path(), &m, Kept::default());
        let before = segment_files(dir.path());
        let idx = Index::load(dir.path()).unwrap();
        let body = idx.body().unwrap();

        // One source edited: its stamp and its output record change.
        m.files[7].stamp.mtime_ns = 1000;
        let models = unchanged(40, |i| body.model_raw(i));
        let outputs: Vec<_> = (0..40)
            .map(|i| match i {
                7 => RecordOut::Fresh(Box::new(OutputRecord {
                    outputs: vec![("p7/index.html".into(), 77)],
                    ..output(7)
                })),
                _ => RecordOut::Same(body.output_raw(i)),
            })
            .collect();
        let enc = encode_body(&models, &outputs, None, Some(&body));
        // Names and listings vouched for are kept without being encoded
        // (debug builds check the vouch).
        let mut kept = idx.kept();
        kept.same_names();
        kept.same_dirs();
        Index::save(dir.path(), &m, &enc, kept).unwrap();
        // The stamps and the patch are in the head file; no segment file
        // is new, none is gone.
        let after = segment_files(dir.path());
        assert_eq!(after, before);
        assert!(
            !after
                .iter()
                .any(|f| f.contains("stamps") || f.contains("patch"))
        );

        let idx2 = Index::load(dir.path()).unwrap();
        assert!(idx2.segments[Seg::OutputsPatch as usize].len > 0);
        assert_eq!(idx2.segments[Seg::ModelsPatch as usize].len, 0);
        assert_eq!(idx2.manifest, m);
        let body2 = idx2.body().unwrap();
        assert_eq!(body2.output(7).outputs, [("p7/index.html".to_string(), 77)]);
        assert_eq!(*body2.output(8), output(8));
        assert_eq!(*body2.model(39), model(39));

        // Carried on: the patch is kept while small, and every record
        // reads as the last build left it.
        let outputs = unchanged(40, |i| body2.output_raw(i));
        let models = unchanged(40, |i| body2.model_raw(i));
        // The same dependents, encoded again: the same segment.
        let deps = [(name_hash("b"), 0)];
        let enc = encode_body(&models, &outputs, Some(&deps), Some(&body2));
        Index::save(dir.path(), &m, &enc, idx2.kept()).unwrap();
        assert_eq!(
            segment_files(dir.path()),
            after,
            "nothing changed, nothing written"
        );
        drop((body, idx, body2, idx2));

        // Most records changed: the whole table is written again, no patch.
        let idx3 = Index::load(dir.path()).unwrap();
        let body3 = idx3.body().unwrap();
        let outputs: Vec<_> = (0..40)
            .map(|i| {
                RecordOut::Fresh(Box::new(OutputRecord {
                    outputs: vec![(format!("moved/p{i}.html"), 1)],
                    ..output(i)
                }))
            })
            .collect();
        let models = unchanged(40, |i| body3.model_raw(i));
        let enc = encode_body(&models, &outputs, None, Some(&body3));
        Index::save(dir.path(), &m, &enc, idx3.kept()).unwrap();
        let files = segment_files(dir.path());
        assert_eq!(files.len(), after.len(), "the old outputs table is removed");
        assert!(
            !files
                .iter()
                .any(|f| after.contains(f) && f.starts_with("index-outputs-"))
        );
        let idx4 = Index::load(dir.path()).unwrap();
        assert_eq!(idx4.segments[Seg::OutputsPatch as usize].len, 0, "no patch");
        let body4 = idx4.body().unwrap();
        assert_eq!(body4.output(7).outputs[0].0, "moved/p7.html");
    }

    #[test]
    fn damage_is_detected_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(3);
        save_fresh(dir.path(), &m, Kept::default());
        let head = std::fs::read(index_path(dir.path())).unwrap();
        let seg = |prefix: &str| {
            dir.path().join(
                segment_files(dir.path())
                    .into_iter()
                    .find(|f| f.starts_with(prefix))
                    .unwrap(),
            )
        };

        // A damaged body segment is found when the body is read.
        let models = seg("index-models-");
        let good = std::fs::read(&models).unwrap();
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 0xff;
        std::fs::write(&models, &bad).unwrap();
        let idx = Index::load(dir.path()).unwrap();
        assert!(matches!(idx.body(), Err(IndexError::Corrupt(_))));
        std::fs::write(&models, &good).unwrap();

        // A missing manifest segment, when the index is loaded.
        let names = seg("index-names-");
        let kept = std::fs::read(&names).unwrap();
        std::fs::remove_file(&names).unwrap();
        assert!(matches!(
            Index::load(dir.path()),
            Err(IndexError::Corrupt(_))
        ));
        std::fs::write(&names, kept).unwrap();
        assert!(Index::load(dir.path()).unwrap().body().is_ok());

        // The stamps, held in the head file after the head, damaged.
        let mut h = head.clone();
        let at = h.len() - 3 * STAMP_WIDTH + 1;
        h[at] ^= 0xff;
        std::fs::write(index_path(dir.path()), &h).unwrap();
        assert!(matches!(
            Index::load(dir.path()),
            Err(IndexError::Corrupt(_))
        ));
        // Or longer than the segments it names.
        let mut h = head.clone();
        h.push(0);
        std::fs::write(index_path(dir.path()), &h).unwrap();
        assert!(matches!(
            Index::load(dir.path()),
            Err(IndexError::Corrupt(_))
        ));

        // The head: damaged, truncated, another format.
        let mut h = head.clone();
        *h.last_mut().unwrap() ^= 0xff;
        std::fs::write(index_path(dir.path()), &h).unwrap();
        assert!(matches!(
            Index::load(dir.path()),
            Err(IndexError::Corrupt(_))
        ));
        std::fs::write(index_path(dir.path()), &head[..head.len() - 1]).unwrap();
        assert!(matches!(
            Index::load(dir.path()),
            Err(IndexError::Corrupt(_))
        ));
        std::fs::write(index_path(dir.path()), b"short").unwrap();
        assert!(Index::load(dir.path()).is_err());
        let mut wrong = head.clone();
        wrong[8] = 99;
        std::fs::write(index_path(dir.path()), &wrong).unwrap();
        assert!(matches!(
            Index::load(dir.path()),
            Err(IndexError::Format(_))
        ));
    }
}
