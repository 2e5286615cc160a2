//! Writing outputs: atomically (a temporary file in the same directory,
//! then rename), and only when the content changed, so an interrupted
//! build never leaves a half-written page and unchanged files keep their
//! timestamps.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// Suffix of temporary files; a later build removes strays.
pub const TEMP_SUFFIX: &str = ".wikic-new";

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(TEMP_SUFFIX);
    path.with_file_name(name)
}

fn ensure_parent(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.is_dir()
    {
        // A file where a directory must go (a page became a directory
        // of subpages) is replaced.
        if dir.is_file() {
            fs::remove_file(dir)?;
        }
        fs::create_dir_all(dir)?;
    }
    Ok(())
}

/// Writes `data` to `path` unless it already holds exactly that.
/// Returns whether the file was written.
pub fn write_if_changed(path: &Path, data: &[u8]) -> io::Result<bool> {
    let existing = fs::metadata(path).ok();
    if let Some(meta) = &existing
        && meta.is_file()
        && meta.len() == data.len() as u64
        && let Ok(old) = fs::read(path)
        && old == data
    {
        return Ok(false);
    }
    replace(path, existing.as_ref(), data)?;
    Ok(true)
}

/// Sets a file's modification time to `t` (seconds since 1970), for
/// generated files dated by what they hold rather than when they were
/// written. Best effort: a file left with the current time is still right.
pub fn set_mtime(path: &Path, t: i64) {
    if let Ok(f) = fs::File::options().write(true).open(path) {
        let _ = f.set_modified(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64));
    }
}

/// Writes through a temporary file and a rename (replacing a directory
/// of that name).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    replace(path, fs::metadata(path).ok().as_ref(), data)
}

/// [`write_atomic`] of `path`, whose metadata (if it exists) is
/// `existing`: what is already known is not asked again.
fn replace(path: &Path, existing: Option<&fs::Metadata>, data: &[u8]) -> io::Result<()> {
    make_way(path, existing)?;
    put_parts(path, &[data])
}

/// Readies `path`, whose metadata (if it exists) is `existing`, for a
/// file to be renamed onto it: a directory there is removed, a missing
/// parent made.
fn make_way(path: &Path, existing: Option<&fs::Metadata>) -> io::Result<()> {
    match existing {
        Some(m) if m.is_dir() => fs::remove_dir_all(path),
        // Something is there: so is its directory.
        Some(_) => Ok(()),
        None => ensure_parent(path),
    }
}

/// Writes `parts`, one after another, to `path` atomically (a temporary
/// file renamed over it), without joining them in memory first.
pub fn write_atomic_parts(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    ensure_parent(path)?;
    put_parts(path, parts)
}

/// [`write_atomic_parts`], where `path`'s directory is known to exist.
fn put_parts(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        // Gathered by the kernel (writev): no buffer to fill, which for
        // the index's head would be fresh pages and a copy of them.
        let mut f = fs::File::create(&tmp)?;
        let mut slices: Vec<io::IoSlice<'_>> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| io::IoSlice::new(p))
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match f.write_vectored(rest) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        drop(f);
        rename_over(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Renames the finished temporary file `tmp` over `path`. Freeing the
/// replaced file's blocks, the dearest part of a rename over it, is left
/// until the run has ended (see `teardown`).
fn rename_over(tmp: &Path, path: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    crate::teardown::retire(path);
    fs::rename(tmp, path)
}

/// Copies a raw file unless the destination already has its size and
/// modification time (to the nanosecond); the copy gets the source's
/// modification time.
pub fn copy_if_changed(
    src: &Path,
    dest: &Path,
    src_mtime_ns: i64,
    src_size: u64,
) -> io::Result<bool> {
    let existing = fs::metadata(dest).ok();
    if let Some(meta) = &existing
        && meta.is_file()
        && meta.len() == src_size
        && meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .is_some_and(|d| d.as_nanos() as i64 == src_mtime_ns)
    {
        return Ok(false);
    }
    make_way(dest, existing.as_ref())?;
    let tmp = temp_path(dest);
    let result = (|| {
        fs::copy(src, &tmp)?;
        let f = fs::File::options().write(true).open(&tmp)?;
        f.set_modified(UNIX_EPOCH + Duration::from_nanos(src_mtime_ns.max(0) as u64))?;
        drop(f);
        rename_over(&tmp, dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_on_change_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/index.html");
        assert!(write_if_changed(&p, b"hello").unwrap());
        assert!(!write_if_changed(&p, b"hello").unwrap());
        assert!(write_if_changed(&p, b"world").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"world");
        assert!(!temp_path(&p).exists());
    }

    #[test]
    fn a_directory_or_a_file_in_the_way_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // A page that was a directory of subpages.
        let p = dir.path().join("page");
        fs::create_dir_all(p.join("sub")).unwrap();
        fs::write(p.join("sub/x.html"), "x").unwrap();
        assert!(write_if_changed(&p, b"now a file").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"now a file");
        // And back: a file where the new page's directory must go.
        let q = p.join("index.html");
        assert!(write_if_changed(&q, b"a directory again").unwrap());
        assert!(p.is_dir());
        assert_eq!(fs::read(&q).unwrap(), b"a directory again");
        write_atomic(&p, b"file").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"file");
        // A raw file copied where a directory was.
        let src = dir.path().join("s.png");
        fs::write(&src, b"png").unwrap();
        let dest = dir.path().join("img");
        fs::create_dir_all(dest.join("old")).unwrap();
        assert!(copy_if_changed(&src, &dest, 1_000_000_000_000, 3).unwrap());
        assert_eq!(fs::read(&dest).unwrap(), b"png");
    }

    #[test]
    fn parts_are_written_whole_beyond_the_kernels_limit_of_slices() {
        // More parts than writev takes at once (1024), empty ones among
        // them, and one larger than a pipe's worth.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let big = vec![7u8; 300_000];
        let numbers: Vec<Vec<u8>> = (0..3000).map(|i: u32| i.to_le_bytes().to_vec()).collect();
        let mut parts: Vec<&[u8]> = Vec::new();
        for (i, n) in numbers.iter().enumerate() {
            parts.push(n);
            if i % 7 == 0 {
                parts.push(&[]);
            }
            if i == 1500 {
                parts.push(&big);
            }
        }
        write_atomic_parts(&p, &parts).unwrap();
        assert_eq!(fs::read(&p).unwrap(), parts.concat());
        write_atomic_parts(&p, &[&[], &[]]).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "a temporary file was left"
        );
    }

    #[test]
    fn copies_with_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("s.png");
        fs::write(&src, b"png").unwrap();
        let dest = dir.path().join("out/s.png");
        assert!(copy_if_changed(&src, &dest, 1_000_000_000_000, 3).unwrap());
        assert!(!copy_if_changed(&src, &dest, 1_000_000_000_000, 3).unwrap());
        assert!(copy_if_changed(&src, &dest, 1_000_000_000_001, 3).unwrap());
    }
}
