//! Wrappers: small executables (POSIX shell scripts made from
//! `hooks/wrapper.sh`) that run wikic for one wiki, with the absolute
//! setup path built in and a cleaned environment, as ikiwiki's compiled
//! wrappers do. `git_wrapper` is installed as the repository's
//! post-update (or post-commit) hook.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::config::Config;
use crate::setup::Setup;

const TEMPLATE: &str = include_str!("../hooks/wrapper.sh");

/// Variables a wrapper lets through, as ikiwiki's wrapper keeps them
/// (the CGI's request, the web server's TLS flag).
const KEEP: &[&str] = &[
    "REMOTE_ADDR",
    "QUERY_STRING",
    "REQUEST_METHOD",
    "REQUEST_URI",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "GATEWAY_INTERFACE",
    "HTTP_COOKIE",
    "REMOTE_USER",
    "HTTPS",
    "REDIRECT_STATUS",
    "HTTP_HOST",
    "SERVER_PORT",
    "REDIRECT_URL",
    "PATH_INFO",
];

const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Quotes `s` for the shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What one wrapper runs.
struct Wrapper<'a> {
    path: PathBuf,
    mode: u32,
    description: &'a str,
    /// The option that says what wikic does when run as this wrapper.
    flag: &'a str,
    /// Variables this wrapper passes on besides [`KEEP`].
    keep: &'a [&'a str],
}

/// Where git keeps a push's objects until the pre-receive hook accepts.
const GIT_QUARANTINE: &[&str] = &[
    "GIT_OBJECT_DIRECTORY",
    "GIT_QUARANTINE_PATH",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
];

/// Installs every wrapper the setup asks for; returns their paths.
pub fn install(setup: &Setup, config: &Config) -> Result<Vec<PathBuf>> {
    let Some(file) = &setup.file else {
        return Ok(Vec::new());
    };
    let setup_path = file
        .canonicalize()
        .with_context(|| format!("cannot find {}", file.display()))?;
    let wikic = std::env::current_exe().context("cannot tell where wikic is installed")?;
    let mut wrappers = Vec::new();
    if config.rcs.as_deref() == Some("git")
        && let Some(path) = setup.path("git_wrapper")
    {
        wrappers.push(Wrapper {
            path,
            mode: mode(setup, "git_wrappermode")?,
            description: "wikic's git hook: brings srcdir up to date after a push and refreshes the wiki.",
            flag: "--post-commit",
            keep: &[],
        });
    }
    if config.rcs.as_deref() == Some("git")
        && let Some(path) = setup.path("git_test_receive_wrapper")
    {
        wrappers.push(Wrapper {
            path,
            mode: mode(setup, "git_wrappermode")?,
            description: "wikic's git pre-receive hook: checks pushes by untrusted_committers.",
            flag: "--test-receive",
            keep: GIT_QUARANTINE,
        });
    }
    let env = setup.map("ENV");
    let path_var = env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    let extra_env: Vec<String> = env
        .iter()
        .filter(|(k, _)| k.as_str() != "PATH" && is_var_name(k))
        .map(|(k, v)| sh_quote(&format!("{k}={v}")))
        .collect();
    let mut done = Vec::new();
    for w in wrappers {
        let text = TEMPLATE
            .replace("@DESCRIPTION@", w.description)
            .replace("@SETUP@", &setup_path.display().to_string())
            .replace(
                "@SETUP_QUOTED@",
                &sh_quote(&setup_path.display().to_string()),
            )
            .replace(
                "@ARGS@",
                &[
                    wikic.display().to_string(),
                    "--setup".into(),
                    setup_path.display().to_string(),
                    w.flag.into(),
                ]
                .iter()
                .map(|a| sh_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            )
            .replace(
                "@KEEP@",
                &KEEP
                    .iter()
                    .chain(w.keep)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .replace("@PATH_QUOTED@", &sh_quote(&path_var))
            .replace("@ENV@", &extra_env.join(" "));
        write_executable(&w.path, &text, w.mode)?;
        tracing::info!("installed wrapper {}", w.path.display());
        done.push(w.path);
    }
    Ok(done)
}

fn is_var_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A wrapper's file mode: the setup's octal `*_wrappermode`, else 0755.
fn mode(setup: &Setup, key: &str) -> Result<u32> {
    match setup.str(key) {
        None => Ok(0o755),
        Some(m) => match u32::from_str_radix(m.trim(), 8) {
            Ok(m) if m <= 0o7777 => Ok(m),
            _ => bail!("{key}: \"{m}\" is not an octal file mode such as 0755"),
        },
    }
}

fn write_executable(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("wikic-new");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot install {}", path.display()))?;
    Ok(())
}

/// What the post-update wrapper does before refreshing: pull the pushed
/// branch into srcdir (ikiwiki's `rcs_update`).
pub fn update_srcdir(config: &Config) -> Result<()> {
    if config.rcs.as_deref() != Some("git") {
        return Ok(());
    }
    let origin = config.setup.str_or("gitorigin_branch", "origin");
    if origin.is_empty() {
        return Ok(());
    }
    let master = config.setup.str_or("gitmaster_branch", "master");
    let out = std::process::Command::new("git")
        .current_dir(&config.srcdir)
        .args(["pull", "--prune", "--quiet", &origin, &master])
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        bail!(
            "git pull in {} failed: {}",
            config.srcdir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Starts `git_wrapper_background_command` detached: the hook returns
/// without waiting for it (a `git push` to a mirror, say).
pub fn background_command(config: &Config) {
    use std::os::unix::process::CommandExt;
    let Some(cmd) = config
        .setup
        .str("git_wrapper_background_command")
        .filter(|c| !c.trim().is_empty())
    else {
        return;
    };
    let spawned = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .current_dir(&config.srcdir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    if let Err(e) = spawned {
        tracing::warn!("cannot start git_wrapper_background_command: {e}");
    }
}
