//! The command-line definition itself, as clap checks it.

/// clap's own consistency checks of every command, argument and group (duplicate flags,
/// conflicting ids, defaults outside their possible values…), which it otherwise runs only
/// when the faulty command is parsed.
#[test]
fn verify_app() {
    oompa::cli::command().debug_assert();
}
