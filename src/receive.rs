//! The pre-receive check (`git_test_receive_wrapper`): a push by one of
//! `untrusted_committers` may only make the changes a web user could —
//! edit pages that are not locked, add attachments `allowed_attachments`
//! accepts, remove what may be removed — and never touch the setup file,
//! dot files, symlinks or submodules, other branches, or rewrite history.
//! Each refused path is named with the reason; git then updates nothing.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{Delta, FileMode, Oid, Repository};

use crate::config::Config;
use crate::pagespec::{MatchParams, PageSpec};
use crate::scan::{is_pruned, page_name, page_type};

/// The Unix user running the hook, as ikiwiki names the committer.
pub fn current_user() -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: getpwuid returns a pointer to static storage or null; it is
    // read at once, before any other call could reuse it.
    let from_nss = unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*pw).pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    // A static binary run on a system whose C library differs from the
    // one it was linked with cannot load the name services: then the
    // password file is read directly, so that `untrusted_committers`
    // still recognises the user.
    from_nss
        .or_else(|| {
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            passwd_user(&passwd, uid).map(str::to_string)
        })
        .unwrap_or_default()
}

/// The name of `uid` in a password file's text.
fn passwd_user(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next()?;
        (f.next()?.parse::<u32>().ok()? == uid).then_some(name)
    })
}

/// Whether `user`'s pushes need checking.
pub fn untrusted(config: &Config, user: &str) -> bool {
    config
        .setup
        .list("untrusted_committers")
        .iter()
        .any(|u| u == user)
}

/// Checks the ref updates git gives a pre-receive hook on `input`
/// (`old new ref` lines) in the repository at `repo_dir`; returns one
/// line per refused change (empty: accept).
pub fn check(
    config: &Config,
    user: &str,
    repo_dir: &Path,
    input: impl BufRead,
) -> Result<Vec<String>> {
    // The pushed objects wait in a quarantine directory git names in the
    // environment; libgit2 reads it from there.
    let repo = Repository::open_from_env()
        .or_else(|_| Repository::open(repo_dir))
        .with_context(|| format!("cannot open the repository {}", repo_dir.display()))?;
    let policy = Policy::new(config, user, &repo)?;
    let master = format!(
        "refs/heads/{}",
        config.setup.str_or("gitmaster_branch", "master")
    );
    let mut refused = Vec::new();
    for line in input.lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(old), Some(new), Some(refname)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (old, new) = (Oid::from_str(old)?, Oid::from_str(new)?);
        if refname != master {
            refused.push(format!("{refname}: you are not allowed to change this ref"));
            continue;
        }
        if new.is_zero() {
            refused.push(format!(
                "{refname}: you are not allowed to delete the branch"
            ));
            continue;
        }
        if !old.is_zero() && old != new && !repo.graph_descendant_of(new, old).unwrap_or(false) {
            refused.push(format!(
                "{refname}: non-fast-forward push (history may not be rewritten)"
            ));
            continue;
        }
        let new_tree = repo.find_commit(new)?.tree()?;
        let old_tree = if old.is_zero() {
            None
        } else {
            Some(repo.find_commit(old)?.tree()?)
        };
        let diff = repo.diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), None)?;
        for delta in diff.deltas() {
            let removed = delta.status() == Delta::Deleted;
            let file = if removed {
                delta.old_file()
            } else {
                delta.new_file()
            };
            let Some(path) = file.path().and_then(|p| p.to_str()) else {
                refused.push("(a file name that is not UTF-8): not allowed".into());
                continue;
            };
            let modes = [delta.old_file().mode(), delta.new_file().mode()];
            let why = policy.refusal(path, removed, modes, file.id());
            if let Some(why) = why {
                refused.push(format!("{path}: {why}"));
            }
        }
    }
    Ok(refused)
}

/// The setup file's path in the repository, when it is in it.
fn setup_repo_path(config: &Config) -> Option<String> {
    let setup = config.setup.file.as_ref()?.canonicalize().ok()?;
    let repo = Repository::discover(&config.srcdir).ok()?;
    let workdir = repo.workdir()?.canonicalize().ok()?;
    let rel = setup.strip_prefix(&workdir).ok()?;
    Some(rel.to_string_lossy().into_owned())
}

/// What a push is checked against, read once per push.
struct Policy<'a> {
    config: &'a Config,
    user: &'a str,
    repo: &'a Repository,
    /// srcdir's path in the repository.
    prefix: String,
    /// The setup file's path in the repository, when it is in it.
    setup_path: Option<String>,
    /// An empty wiki: the PageSpecs match names, not pages.
    wiki: crate::wiki::Wiki,
    /// `locked_pages` (one that does not parse locks nothing).
    locked: Option<PageSpec>,
    /// `allowed_attachments` and its parse, when set.
    attachments: Option<(String, Result<PageSpec, String>)>,
}

impl<'a> Policy<'a> {
    fn new(config: &'a Config, user: &'a str, repo: &'a Repository) -> Result<Policy<'a>> {
        let parse = |spec: &str| PageSpec::parse(spec, &config.plugins).map_err(|e| e.to_string());
        Ok(Policy {
            config,
            user,
            repo,
            prefix: crate::vcs::git::Git::open(&config.srcdir)?
                .prefix()
                .to_string(),
            setup_path: setup_repo_path(config),
            wiki: crate::wiki::Wiki::new(std::sync::Arc::new(config.clone()), Vec::new()),
            locked: config.locked_pages.as_deref().and_then(|s| parse(s).ok()),
            attachments: config
                .setup
                .str("allowed_attachments")
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let parsed = parse(&s);
                    (s, parsed)
                }),
        })
    }

    /// Why one changed file is refused, if it is.
    fn refusal(
        &self,
        path: &str,
        removed: bool,
        modes: [FileMode; 2],
        blob: Oid,
    ) -> Option<String> {
        let config = self.config;
        if self.setup_path.as_deref() == Some(path) {
            return Some("the setup file may not be changed".into());
        }
        let Some(rel) = path.strip_prefix(self.prefix.as_str()) else {
            return Some("outside the wiki's source directory".into());
        };
        if rel.split('/').any(|c| c.starts_with('.')) {
            return Some("dot files may not be changed".into());
        }
        for mode in modes {
            match mode {
                FileMode::Link => return Some("symlinks are not allowed".into()),
                FileMode::Commit => return Some("submodules are not allowed".into()),
                _ => {}
            }
        }
        if is_pruned(rel, config) {
            return Some("this kind of file is not part of the wiki".into());
        }
        let page = page_name(rel, config);
        if let Some(why) = self.locked(&page) {
            return Some(why);
        }
        if removed {
            if !config.plugins.enabled("remove") {
                return Some("removing files is not allowed (the remove plugin is off)".into());
            }
            return None;
        }
        if page_type(rel, config).is_some() {
            return None;
        }
        // Not a page: an attachment, allowed as a web upload would be.
        if !config.plugins.enabled("attachment") {
            return Some("only pages may be added (attachments are off)".into());
        }
        // No allowed_attachments: any attachment may be added.
        let (spec, parsed) = self.attachments.as_ref()?;
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return Some(format!("allowed_attachments does not parse: {e}")),
        };
        let (size, mime) = match self.repo.find_blob(blob) {
            Ok(b) => (b.size() as u64, crate::mime::sniff(rel, b.content())),
            Err(_) => (0, crate::mime::guess(rel).to_string()),
        };
        let mp = MatchParams {
            location: Some(&page),
            user: Some(Some(self.user)),
            file_size: Some(size),
            file_mime: Some(&mime),
            ..Default::default()
        };
        if parsed.match_page(&self.wiki, rel, &mp).is_match() {
            None
        } else {
            Some(format!(
                "not an allowed attachment (allowed_attachments: {spec})"
            ))
        }
    }

    /// Why `page` may not be changed (`locked_pages`), if it is locked;
    /// admins are never locked out.
    fn locked(&self, page: &str) -> Option<String> {
        let spec = self.locked.as_ref()?;
        if self.config.adminuser.iter().any(|a| a == self.user) {
            return None;
        }
        let mp = MatchParams {
            location: Some(page),
            user: Some(Some(self.user)),
            ..Default::default()
        };
        spec.match_page(&self.wiki, page, &mp)
            .is_match()
            .then(|| format!("{page} is locked and cannot be edited"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_found_in_a_password_file_by_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n\
                      # a comment\n\
                      broken line\n\
                      wiki:x:1000:1000:Wiki,,,:/home/wiki:/bin/sh\n\
                      other:x:10000:10000::/:/bin/false\n";
        assert_eq!(passwd_user(passwd, 0), Some("root"));
        assert_eq!(passwd_user(passwd, 1000), Some("wiki"));
        assert_eq!(passwd_user(passwd, 10000), Some("other"));
        assert_eq!(passwd_user(passwd, 1), None);
    }

    #[test]
    fn the_current_user_has_a_name() {
        // Whichever way it was found, it is this process's user.
        let uid = unsafe { libc::getuid() };
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        if let Some(name) = passwd_user(&passwd, uid) {
            assert_eq!(current_user(), name);
        }
    }
}
