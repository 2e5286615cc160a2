//! The wiki's version control, behind one small interface: page times and
//! recent changes from history. Only git (`rcs: git`) is implemented, with
//! libgit2 — no `git` process per page or per build.

use std::path::Path;

use anyhow::Result;
use rustc_hash::FxHashMap;

pub mod git;

/// One commit as recentchanges shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The commit id.
    pub rev: String,
    pub parent: Option<String>,
    pub author: String,
    pub email: String,
    /// Author time, seconds since 1970.
    pub time: i64,
    pub message: String,
    /// Files changed, relative to srcdir.
    pub files: Vec<String>,
}

/// Creation and last modification time of a file, from history.
pub type Times = FxHashMap<String, (i64, i64)>;

pub trait Vcs: Send + Sync {
    /// The id of the checked-out commit (`None` before the first).
    fn head(&self) -> Result<Option<String>>;

    /// ctime (first commit) and mtime (last commit) of every file under
    /// srcdir that history knows, by path relative to srcdir; `statedir`
    /// holds a cache so that only new commits are read.
    fn times(&self, statedir: &Path) -> Result<Times>;

    /// The newest `n` changes touching srcdir, newest first.
    fn recent_changes(&self, n: usize) -> Result<Vec<Change>>;
}

/// The wiki's VCS, when the setup names one wikic reads.
pub fn open(config: &crate::config::Config) -> Result<Option<Box<dyn Vcs>>> {
    match config.rcs.as_deref() {
        Some("git") => Ok(Some(Box::new(git::Git::open(&config.srcdir)?))),
        _ => Ok(None),
    }
}
