// mimalloc: the build allocates many short strings on every thread, where
// the system allocator's locking and fragmentation cost about a tenth of
// the run time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wikic::cli::main()
}
