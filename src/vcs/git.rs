//! git through libgit2: one walk of the history for page times (cached,
//! then only new commits), and the recent commits for recentchanges.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use git2::{Delta, DiffOptions, Oid, Repository, Sort};
use serde::{Deserialize, Serialize};

use super::{Change, Times, Vcs};

pub struct Git {
    /// The repository's work tree holding srcdir.
    repo_path: PathBuf,
    /// srcdir relative to the work tree (`""` when they are the same),
    /// with a trailing slash otherwise.
    prefix: String,
}

/// The times cache in the state directory.
#[derive(Serialize, Deserialize, Default)]
struct Cache {
    head: String,
    prefix: String,
    times: Vec<(String, i64, i64)>,
}

const CACHE_FILE: &str = "git-times";

impl Git {
    pub fn open(srcdir: &Path) -> Result<Git> {
        let repo = Repository::discover(srcdir).with_context(|| {
            format!("{} is not in a git repository (rcs: git)", srcdir.display())
        })?;
        let workdir = repo
            .workdir()
            .context("the git repository of srcdir is bare; srcdir must be a checkout")?;
        let workdir = workdir
            .canonicalize()
            .unwrap_or_else(|_| workdir.to_path_buf());
        let src = srcdir
            .canonicalize()
            .unwrap_or_else(|_| srcdir.to_path_buf());
        let rel = src.strip_prefix(&workdir).unwrap_or(Path::new(""));
        let mut prefix = rel.to_string_lossy().replace('\\', "/");
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Git {
            repo_path: workdir,
            prefix,
        })
    }

    fn repo(&self) -> Result<Repository> {
        Repository::open(&self.repo_path).with_context(|| {
            format!(
                "cannot open the git repository {}",
                self.repo_path.display()
            )
        })
    }

    /// The files a commit changed (against its first parent), relative to
    /// srcdir; `None` for merges, which `git log` lists without files.
    fn changed_files(
        &self,
        repo: &Repository,
        commit: &git2::Commit,
    ) -> Result<Option<Vec<String>>> {
        if commit.parent_count() > 1 {
            return Ok(None);
        }
        let tree = commit.tree()?;
        let parent_tree = match commit.parent_count() {
            0 => None,
            _ => Some(commit.parent(0)?.tree()?),
        };
        let mut opts = DiffOptions::new();
        opts.skip_binary_check(true);
        if !self.prefix.is_empty() {
            opts.pathspec(&self.prefix);
        }
        let diff = repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))?;
        let mut files = Vec::new();
        for delta in diff.deltas() {
            let file = if delta.status() == Delta::Deleted {
                delta.old_file()
            } else {
                delta.new_file()
            };
            let Some(path) = file.path().and_then(|p| p.to_str()) else {
                continue;
            };
            if let Some(rel) = path.strip_prefix(&self.prefix) {
                files.push(rel.to_string());
            }
        }
        Ok(Some(files))
    }
}

fn load_cache(statedir: &Path) -> Option<Cache> {
    let bytes = std::fs::read(statedir.join(CACHE_FILE)).ok()?;
    postcard::from_bytes(&bytes).ok()
}

fn save_cache(statedir: &Path, cache: &Cache) -> Result<()> {
    std::fs::create_dir_all(statedir)?;
    let bytes = postcard::to_allocvec(cache)?;
    crate::write::write_atomic(&statedir.join(CACHE_FILE), &bytes)
        .with_context(|| format!("cannot write {}", statedir.join(CACHE_FILE).display()))
}

impl Vcs for Git {
    fn times(&self, statedir: &Path) -> Result<Times> {
        let repo = self.repo()?;
        let head = match repo.head().and_then(|h| h.peel_to_commit()) {
            Ok(c) => c.id(),
            // No commit yet: history knows nothing.
            Err(_) => return Ok(Times::default()),
        };
        let cache = load_cache(statedir).filter(|c| c.prefix == self.prefix);
        let mut times: Times = Times::default();
        let mut since: Option<Oid> = None;
        if let Some(c) = cache {
            let old = Oid::from_str(&c.head).ok();
            if old == Some(head) {
                return Ok(c.times.into_iter().map(|(f, a, b)| (f, (a, b))).collect());
            }
            // New commits on top of the cached ones: read only those.
            if let Some(old) = old
                && repo.graph_descendant_of(head, old).unwrap_or(false)
            {
                times = c.times.into_iter().map(|(f, a, b)| (f, (a, b))).collect();
                since = Some(old);
            }
        }
        let mut walk = repo.revwalk()?;
        walk.set_sorting(Sort::TIME)?;
        walk.push(head)?;
        if let Some(old) = since {
            walk.hide(old)?;
        }
        // Newest first, as `git log` lists them: the first commit seen
        // touching a file gives its mtime, the last its ctime.
        let cached: rustc_hash::FxHashSet<String> = times.keys().cloned().collect();
        let mut seen_now: rustc_hash::FxHashSet<String> = Default::default();
        for oid in walk {
            let commit = repo.find_commit(oid?)?;
            let Some(files) = self.changed_files(&repo, &commit)? else {
                continue;
            };
            let when = commit.author().when().seconds();
            for f in files {
                if seen_now.insert(f.clone()) {
                    // The newest change to the file.
                    times
                        .entry(f)
                        .and_modify(|t| t.1 = when)
                        .or_insert((when, when));
                } else if !cached.contains(&f)
                    && let Some(t) = times.get_mut(&f)
                {
                    // An older one: the file is at least that old.
                    t.0 = when;
                }
            }
        }
        let mut list: Vec<(String, i64, i64)> = times
            .iter()
            .map(|(f, (c, m))| (f.clone(), *c, *m))
            .collect();
        list.sort();
        save_cache(
            statedir,
            &Cache {
                head: head.to_string(),
                prefix: self.prefix.clone(),
                times: list,
            },
        )?;
        Ok(times)
    }

    fn recent_changes(&self, n: usize) -> Result<Vec<Change>> {
        let repo = self.repo()?;
        let head = match repo.head().and_then(|h| h.peel_to_commit()) {
            Ok(c) => c.id(),
            Err(_) => return Ok(Vec::new()),
        };
        let mut walk = repo.revwalk()?;
        walk.set_sorting(Sort::TIME)?;
        walk.push(head)?;
        let mut out = Vec::new();
        for oid in walk {
            if out.len() >= n {
                break;
            }
            let commit = repo.find_commit(oid?)?;
            let Some(files) = self.changed_files(&repo, &commit)? else {
                continue;
            };
            if files.is_empty() {
                continue;
            }
            let author = commit.author();
            out.push(Change {
                rev: commit.id().to_string(),
                parent: commit.parent_ids().next().map(|p| p.to_string()),
                author: author.name().unwrap_or("").to_string(),
                time: author.when().seconds(),
                message: commit.message().unwrap_or("").trim_end().to_string(),
                files,
            });
        }
        Ok(out)
    }
}
