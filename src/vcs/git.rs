//! git through libgit2: one walk of the history for page times (cached,
//! then only new commits), and the recent commits for recentchanges.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use git2::{Oid, Repository, Sort};
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

    /// srcdir's path in the repository (`""` or ending in `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn repo(&self) -> Result<Repository> {
        // Objects are read, never trusted for security here; checking
        // every object's hash while reading is most of a history walk.
        git2::opts::strict_hash_verification(false);
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
        // Descend to srcdir in both trees.
        let (mut new, mut old) = (Some(tree), parent_tree);
        for part in self.prefix.split('/').filter(|p| !p.is_empty()) {
            new = subtree(repo, new.as_ref(), part)?;
            old = subtree(repo, old.as_ref(), part)?;
        }
        let mut files = Vec::new();
        changed_paths(repo, old.as_ref(), new.as_ref(), "", &mut files)?;
        Ok(Some(files))
    }
}

/// The subtree `name` of `tree`, if it has one.
fn subtree<'r>(
    repo: &'r Repository,
    tree: Option<&git2::Tree<'r>>,
    name: &str,
) -> Result<Option<git2::Tree<'r>>> {
    let Some(entry) = tree.and_then(|t| t.get_name(name)) else {
        return Ok(None);
    };
    if entry.kind() != Some(git2::ObjectType::Tree) {
        return Ok(None);
    }
    Ok(Some(repo.find_tree(entry.id())?))
}

/// Paths of the blobs that differ between two trees (added, changed or
/// removed), under `dir`. Subtrees with the same id are skipped whole,
/// which is what makes one walk of a long history cheap.
fn changed_paths(
    repo: &Repository,
    old: Option<&git2::Tree>,
    new: Option<&git2::Tree>,
    dir: &str,
    out: &mut Vec<String>,
) -> Result<()> {
    // Both trees list entries in git's order (a directory sorts as its
    // name with a slash), so one merge pass pairs them up.
    type Entry = (Vec<u8>, Oid, bool);
    let list = |t: Option<&git2::Tree>| -> Vec<Entry> {
        t.map(|t| {
            t.iter()
                .map(|e| {
                    let is_tree = e.kind() == Some(git2::ObjectType::Tree);
                    let mut key = e.name_bytes().to_vec();
                    if is_tree {
                        key.push(b'/');
                    }
                    (key, e.id(), is_tree)
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let (a, b) = (list(old), list(new));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let (o, n): (Option<&Entry>, Option<&Entry>) = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                i += 1;
                j += 1;
                (Some(x), Some(y))
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                i += 1;
                (Some(x), None)
            }
            (Some(_), Some(y)) => {
                j += 1;
                (None, Some(y))
            }
            (Some(x), None) => {
                i += 1;
                (Some(x), None)
            }
            (None, Some(y)) => {
                j += 1;
                (None, Some(y))
            }
            (None, None) => break,
        };
        if o.map(|x| x.1) == n.map(|x| x.1) {
            continue;
        }
        let entry = o.or(n).expect("one side");
        let name = entry.0.strip_suffix(b"/").unwrap_or(&entry.0);
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let path = format!("{dir}{name}");
        if entry.2 {
            let tree_of = |x: Option<&Entry>| -> Result<Option<git2::Tree>> {
                match x {
                    Some((_, id, true)) => Ok(Some(repo.find_tree(*id)?)),
                    _ => Ok(None),
                }
            };
            let (ot, nt) = (tree_of(o)?, tree_of(n)?);
            changed_paths(repo, ot.as_ref(), nt.as_ref(), &format!("{path}/"), out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
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

/// The checked-out commit, `None` before the first.
fn head_commit(repo: &Repository) -> Option<Oid> {
    repo.head()
        .and_then(|h| h.peel_to_commit())
        .ok()
        .map(|c| c.id())
}

impl Vcs for Git {
    fn head(&self) -> Result<Option<String>> {
        Ok(head_commit(&self.repo()?).map(|id| id.to_string()))
    }

    fn times(&self, statedir: &Path) -> Result<Times> {
        let repo = self.repo()?;
        // No commit yet: history knows nothing.
        let Some(head) = head_commit(&repo) else {
            return Ok(Times::default());
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
        let Some(head) = head_commit(&repo) else {
            return Ok(Vec::new());
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
                email: author.email().unwrap_or("").to_string(),
                time: author.when().seconds(),
                message: commit.message().unwrap_or("").trim_end().to_string(),
                files,
            });
        }
        Ok(out)
    }
}
