fn main() -> std::process::ExitCode {
    wikic::cli::main()
}
