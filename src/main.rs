fn main() -> std::process::ExitCode {
    oompa::cli::main()
}
