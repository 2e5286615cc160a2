//! Times a command: `timeit RUNS [--before SHELL-CMD] -- CMD ARGS...`
//! runs CMD RUNS times (after SHELL-CMD each time, untimed) and prints the
//! median wall time in seconds. Used by bench/bench.sh, where forking
//! `date` around each run would cost as much as a quick refresh.
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: timeit RUNS [--before SHELL-CMD] -- CMD ARGS...";
    let runs: usize = args.first().and_then(|r| r.parse().ok()).expect(usage);
    let sep = args.iter().position(|a| a == "--").expect(usage);
    let before = match args.get(1).map(String::as_str) {
        Some("--before") if sep > 2 => Some(args[2].clone()),
        _ => None,
    };
    let cmd = &args[sep + 1..];
    assert!(!cmd.is_empty(), "{usage}");
    let mut times = Vec::with_capacity(runs);
    for i in 0..runs {
        if let Some(b) = &before {
            let ok = Command::new("sh")
                .arg("-c")
                .arg(b)
                .env("RUN", i.to_string())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "the --before command failed: {b}");
        }
        let started = Instant::now();
        let status = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        times.push(started.elapsed().as_secs_f64());
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("timeit: {} failed", cmd.join(" "));
            std::process::exit(1);
        }
    }
    times.sort_by(f64::total_cmp);
    println!("{:.4}", times[times.len() / 2]);
}
