//! Command line: ikiwiki's options where ikiwiki has them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::build::{BuildOptions, build};
use crate::config::Config;
use crate::setup::Setup;

/// wikic compiles an ikiwiki wiki — Markdown pages in a git repository,
/// described by an ikiwiki YAML setup file — into a static HTML site.
#[derive(Debug, Parser)]
#[command(name = "wikic", version, about, long_about = None)]
#[command(
    after_help = "Examples:\n  wikic --setup wiki.yaml            build the wiki a setup file describes\n  wikic --setup wiki.yaml --refresh  rebuild only what changed\n  wikic src/ public_html/            build a directory of pages with defaults"
)]
pub struct Cli {
    /// The ikiwiki YAML setup file describing the wiki.
    #[arg(long, short = 's', value_name = "FILE")]
    pub setup: Option<PathBuf>,

    /// Rebuild every page from scratch.
    #[arg(long)]
    pub rebuild: bool,

    /// Rebuild only pages affected by changes since the last build.
    #[arg(long)]
    pub refresh: bool,

    /// Write the setup (with command-line changes) to FILE and exit.
    #[arg(long, value_name = "FILE")]
    pub dumpsetup: Option<PathBuf>,

    /// Say what is being built and why.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// When another build of this wiki is running, ask it to make one more
    /// pass and exit at once instead of waiting (for commit hooks).
    #[arg(long)]
    pub queue_if_busy: bool,

    /// Install the wrappers the setup names (`git_wrapper`) and exit.
    #[arg(long)]
    pub wrappers: bool,

    /// Run as the git hook does: pull into srcdir, refresh, then start
    /// `git_wrapper_background_command`.
    #[arg(long)]
    pub post_commit: bool,

    /// Check a push as the pre-receive hook does (ref updates on standard
    /// input); exits non-zero, naming each refused file, to refuse it.
    #[arg(long)]
    pub test_receive: bool,

    /// Number of threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// Set the wiki's URL.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Set the CGI's URL.
    #[arg(long, value_name = "URL")]
    pub cgiurl: Option<String>,

    /// Set the wiki's name.
    #[arg(long, value_name = "NAME")]
    pub wikiname: Option<String>,

    /// Enable a plugin (repeatable).
    #[arg(long = "plugin", value_name = "NAME")]
    pub plugins: Vec<String>,

    /// Disable a plugin (repeatable).
    #[arg(long = "disable-plugin", value_name = "NAME")]
    pub disable_plugins: Vec<String>,

    /// Set any setup key, as `key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Source directory (quick mode, without a setup file).
    #[arg(value_name = "SRCDIR")]
    pub srcdir: Option<PathBuf>,

    /// Destination directory (quick mode).
    #[arg(value_name = "DESTDIR")]
    pub destdir: Option<PathBuf>,
}

fn init_logging(verbose: bool) {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = if verbose {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    };
    let fmt = tracing_subscriber::fmt::layer()
        .without_time()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| QuietStderr);
    // `WIKIC_LOG` takes tracing's full filter syntax. Without it, a plain
    // target filter: parsing even the default directive compiles regular
    // expressions, a tenth of a millisecond at every start.
    let _ = match EnvFilter::try_from_env("WIKIC_LOG") {
        Ok(filter) => tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .try_init(),
        Err(_) => tracing_subscriber::registry()
            .with(fmt.with_filter(Targets::new().with_target("wikic", level)))
            .try_init(),
    };
}

/// Standard error that never fails: when it is a closed pipe (`wikic -v |
/// head`), the build carries on rather than dying on a log line.
struct QuietStderr;

impl std::io::Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// A line on standard error, if anyone is listening.
fn say_error(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn load_setup(cli: &Cli) -> Result<Setup> {
    let mut setup = match (&cli.setup, &cli.srcdir, &cli.destdir) {
        (Some(file), None, None) => Setup::load(file)?,
        (None, Some(src), Some(dest)) => Setup::quick(src, dest),
        (Some(_), Some(_), _) => bail!("give either --setup FILE or SRCDIR DESTDIR, not both"),
        (None, Some(_), None) => {
            bail!("missing DESTDIR: use `wikic SRCDIR DESTDIR` or `wikic --setup FILE`")
        }
        _ => {
            bail!("nothing to do: use `wikic --setup FILE` or `wikic SRCDIR DESTDIR` (see --help)")
        }
    };
    if let Some(u) = &cli.url {
        setup.set_str("url", u);
    }
    if let Some(u) = &cli.cgiurl {
        setup.set_str("cgiurl", u);
    }
    if let Some(n) = &cli.wikiname {
        setup.set_str("wikiname", n);
    }
    if !cli.plugins.is_empty() {
        let mut l = setup.list("add_plugins");
        l.extend(cli.plugins.iter().cloned());
        setup.set_value(
            "add_plugins",
            serde_norway::Value::Sequence(l.into_iter().map(serde_norway::Value::String).collect()),
        );
    }
    if !cli.disable_plugins.is_empty() {
        let mut l = setup.list("disable_plugins");
        l.extend(cli.disable_plugins.iter().cloned());
        setup.set_value(
            "disable_plugins",
            serde_norway::Value::Sequence(l.into_iter().map(serde_norway::Value::String).collect()),
        );
    }
    for kv in &cli.set {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("--set {kv}: expected KEY=VALUE");
        };
        let value: serde_norway::Value = serde_norway::from_str(v)
            .unwrap_or_else(|_| serde_norway::Value::String(v.to_string()));
        setup.set_value(k, value);
    }
    Ok(setup)
}

/// Stack size of the threads that build: nested directives, templates
/// and PageSpecs recurse, and hostile pages nest them thousands deep.
const STACK_SIZE: usize = 64 << 20;

fn run(cli: Cli, started: std::time::Instant) -> Result<u8> {
    init_logging(cli.verbose);
    let setup = load_setup(&cli)?;
    if !setup.unknown_keys.is_empty() {
        tracing::warn!(
            "{}: unknown setup keys (ignored): {}",
            setup
                .file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "setup".into()),
            setup.unknown_keys.join(", ")
        );
    }
    if let Some(out) = &cli.dumpsetup {
        std::fs::write(out, setup.dump())
            .with_context(|| format!("cannot write {}", out.display()))?;
        return Ok(0);
    }
    let config = Config::from_setup(&setup)?;
    if cli.wrappers {
        let installed = crate::wrappers::install(&setup, &config)?;
        if installed.is_empty() {
            say_error("wikic: the setup names no wrappers (git_wrapper)");
        }
        return Ok(0);
    }
    if cli.test_receive {
        // Trusted committers are let through before anything else.
        let user = crate::receive::current_user();
        if !crate::receive::untrusted(&config, &user) {
            return Ok(0);
        }
        let here = std::env::current_dir().context("no current directory")?;
        let refused = crate::receive::check(&config, &user, &here, std::io::stdin().lock())?;
        for r in &refused {
            say_error(&format!("wikic: refused: {r}"));
        }
        return Ok(if refused.is_empty() { 0 } else { 1 });
    }
    if cli.post_commit
        && let Err(e) = crate::wrappers::update_srcdir(&config)
    {
        // Refresh what is there anyway; the next push retries the pull.
        say_error(&format!("wikic: {e:#}"));
    }
    for p in &config.plugins.unknown {
        tracing::warn!("plugin {p} is not an ikiwiki plugin wikic knows; ignoring it");
    }
    let missing = config.plugins.unimplemented();
    if !missing.is_empty() {
        tracing::warn!(
            "plugins not implemented by wikic (their directives are left as written): {}",
            missing.join(", ")
        );
    }
    if let Some(tz) = &config.timezone {
        // SAFETY: the only other thread is the main one, waiting for this
        // one to end the process; the time zone must be in the
        // environment before the thread pool starts.
        unsafe { std::env::set_var("TZ", tz) };
    }
    let full = cli.rebuild || !(cli.refresh || cli.post_commit);
    let opts = BuildOptions {
        rebuild: full,
        verbose: cli.verbose,
        queue_if_busy: cli.queue_if_busy || cli.post_commit,
        process_ends: true,
    };
    let config = Arc::new(config);
    crate::pool::join(cli.jobs, STACK_SIZE);
    // This process ends with `exit` below, which hands the files the build
    // replaces to the teardown helper.
    #[cfg(target_os = "linux")]
    crate::teardown::retire_replaced_files();
    let report = build(config.clone(), &opts)?;
    if cli.post_commit {
        crate::wrappers::background_command(&config);
    } else if full && cli.setup.is_some() {
        // `--setup` builds and (re)installs the wrappers, as ikiwiki does.
        crate::wrappers::install(&setup, &config)?;
    }
    if report.queued {
        return Ok(0);
    }
    if cli.verbose {
        for (name, d) in &report.timings {
            tracing::info!("{name}: {:.1} ms", d.as_secs_f64() * 1000.0);
        }
        // Setup parsing, locking and the like, around the build proper.
        tracing::info!(
            "since wikic started: {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        tracing::info!(
            "{} pages, {} other files; {} written, {} unchanged",
            report.pages,
            report.files,
            report.written,
            report.unchanged
        );
    }
    if !report.errors.is_empty() {
        say_error(&format!(
            "wikic: built with {} error(s); the rest of the wiki is up to date",
            report.errors.len()
        ));
        return Ok(1);
    }
    Ok(0)
}

/// Entry point used by `main`. The command runs on a thread with a large
/// stack, which also ends the process: the main thread only waits, so
/// nothing is handed back to it (waking it costs a quarter of a
/// millisecond or more) and no thread is torn down before the end.
pub fn main() -> ! {
    let spawned = std::thread::Builder::new()
        .name("wikic".into())
        .stack_size(STACK_SIZE)
        .spawn(|| exit(status()));
    match spawned {
        // Returns only if the command panicked (the hook has said so).
        Ok(handle) => {
            let _ = handle.join();
            exit(101)
        }
        Err(e) => {
            say_error(&format!(
                "wikic: cannot start a thread ({e}); running on the main one"
            ));
            exit(status())
        }
    }
}

/// Runs the command line: the exit status.
fn status() -> u8 {
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    match run(cli, started) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            say_error(&format!("wikic: {msg}"));
            1
        }
    }
}

/// Ends the process. Every file is written and closed by now; tearing
/// down the allocator and the thread pool is skipped, which a short run
/// notices.
fn exit(code: u8) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // The memory is freed after the process has ended, not before.
    #[cfg(target_os = "linux")]
    crate::teardown::hand_off();
    #[cfg(unix)]
    // SAFETY: `_exit` ends the process; nothing is left to clean up.
    unsafe {
        libc::_exit(code as i32)
    }
    #[cfg(not(unix))]
    std::process::exit(code as i32)
}
