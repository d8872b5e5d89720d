//! The manual pages, generated from the same clap definitions as `--help`: `git-oompa.1` and
//! one page per subcommand (`git-oompa-task-add.1`, …).
//!
//! `git oompa --help` is turned by git itself into `git help oompa`, which runs `man
//! git-oompa`; git never lets the binary answer. So the pages must be installed before anyone
//! asks: [`ensure_installed`] puts them beside the binary the first time it runs (and again
//! after an upgrade), where man-db's PATH-derived search finds them without any MANPATH
//! setting: `<prefix>/bin/git-oompa` → `<prefix>/share/man/man1` (for `cargo install`,
//! `~/.cargo/share/man/man1`). `git oompa install-man-pages DIR` writes them anywhere else.
//!
//! `git help oompa-task` asks man for `gitoompa-task` (git prefixes `git` to a name that is
//! not a command on PATH), so each subcommand page also gets a `gitoompa-…` alias (`.so`).
//! `git oompa help [COMMAND]` prints the same text without man.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{CommandError, Env};
use crate::store::layout::write_atomic;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A man directory such as ~/.local/share/man (pages go to DIR/man1)
    pub dir: PathBuf,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let man1 = args.dir.join("man1");
    let written = write_pages(&man1)
        .map_err(|e| CommandError::user(format!("writing the manual pages: {e}")))?;
    for p in &written {
        env.ui.out(p.display())?;
    }
    env.ui.status(format!(
        "wrote {} man pages; `git help oompa` shows them when {} is on MANPATH",
        written.len(),
        args.dir.display()
    ));
    Ok(())
}

/// The manual directory man-db derives from the directory of the binary on PATH:
/// `<prefix>/bin/git-oompa` → `<prefix>/share/man/man1`. `None` when the binary does not sit
/// in a `bin` directory (a build tree such as `target/debug`), where nothing is installed.
pub fn beside(exe: &Path) -> Option<PathBuf> {
    let bin = exe.parent()?;
    if bin.file_name()? != "bin" {
        return None;
    }
    Some(bin.parent()?.join("share").join("man").join("man1"))
}

/// What [`ensure_installed`] did.
#[derive(Debug)]
pub enum Installed {
    /// The pages were missing and are now in this directory.
    Fresh(PathBuf),
    /// The pages were from another version and were rewritten.
    Updated(PathBuf),
}

/// Installs the pages beside the running binary (see [`beside`]) unless this version's are
/// already there. Costs one small read when they are. A directory that cannot be written is
/// not an error: `git oompa help` works without man.
pub fn ensure_installed() -> Option<Installed> {
    let exe = std::env::current_exe().ok()?;
    let man1 = beside(&exe)?;
    let top = man1.join("git-oompa.1");
    // The stamp is in the `.TH` line, near the top.
    let current = std::fs::File::open(&top).ok().map(|f| {
        let mut head = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, 1024), &mut head);
        head
    });
    if current
        .as_deref()
        .is_some_and(|t| t.windows(STAMP.len()).any(|w| w == STAMP.as_bytes()))
    {
        return None;
    }
    match write_pages(&man1) {
        Ok(_) if current.is_some() => Some(Installed::Updated(man1)),
        Ok(_) => Some(Installed::Fresh(man1)),
        Err(e) => {
            tracing::debug!(
                "could not install the manual pages in {}: {e}",
                man1.display()
            );
            None
        }
    }
}

/// What the `.TH` line of this version's pages carries.
const STAMP: &str = concat!("\"git-oompa ", env!("CARGO_PKG_VERSION"), "\"");

/// Every page as `(name, roff text)`: `git-oompa` and one per subcommand, in tree order.
fn all_pages() -> Vec<(String, String)> {
    let mut cmd = super::command()
        .name("git-oompa")
        .bin_name("git oompa")
        .disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, "git-oompa", "git oompa", &mut pages);
    pages
}

/// Writes every page (and the `gitoompa-…` aliases) into `man1`, creating it; returns the
/// pages' paths. `git-oompa.1`, which [`ensure_installed`] checks, is written last.
pub fn write_pages(man1: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(man1)?;
    let pages = all_pages();
    let mut written = Vec::new();
    for (name, text) in pages.iter().rev() {
        let path = man1.join(format!("{name}.1"));
        write_atomic(&path, text.as_bytes())?;
        if let Some(sub) = name.strip_prefix("git-") {
            let alias = man1.join(format!("git{sub}.1"));
            write_atomic(&alias, format!(".so man1/{name}.1\n").as_bytes())?;
        }
        written.push(path);
    }
    written.reverse();
    Ok(written)
}

/// Every page of the tree under `cmd`: (page name, roff text), parents first.
fn collect(cmd: &clap::Command, page: &str, invocation: &str, out: &mut Vec<(String, String)>) {
    out.push((page.to_string(), render(cmd, page, invocation)));
    for sub in visible_subcommands(cmd) {
        let name = sub.get_name();
        collect(
            sub,
            &format!("{page}-{name}"),
            &format!("{invocation} {name}"),
            out,
        );
    }
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// One page: clap_mangen's title, name, description and options, with our own synopsis (it
/// leaves out option values: `[-C ]`), command list (it names pages that are never written,
/// such as `git-oompa-help(1)`) and notes.
fn render(cmd: &clap::Command, page: &str, invocation: &str) -> String {
    let named = cmd
        .clone()
        .name(page.to_string())
        .display_name(page.to_string())
        .bin_name(invocation.to_string());
    let man = clap_mangen::Man::new(named.clone())
        .title(page.to_ascii_uppercase())
        .section("1")
        .source(format!("git-oompa {}", env!("CARGO_PKG_VERSION")))
        .manual("Git Oompa Manual");
    let mut buf = Vec::new();
    let written: std::io::Result<()> = (|| {
        man.render_title(&mut buf)?;
        man.render_name_section(&mut buf)?;
        buf.extend_from_slice(synopsis(&named, invocation).as_bytes());
        man.render_description_section(&mut buf)?;
        if named.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut buf)?;
        }
        Ok(())
    })();
    written.expect("writing to a Vec cannot fail");
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    let subs: Vec<&clap::Command> = visible_subcommands(&named).collect();
    if !subs.is_empty() {
        text.push_str(".SH COMMANDS\n");
        for sub in &subs {
            let mut about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            if !about.is_empty() && !about.ends_with(['.', '!', '?']) {
                about.push('.');
            }
            let _ = writeln!(
                text,
                ".TP\n\\fB{}\\fR\n{} See \\fB{}\\-{}\\fR(1).",
                esc(&format!("{invocation} {}", sub.get_name())),
                esc(&about),
                esc(page),
                esc(sub.get_name()),
            );
        }
    }
    if let Some(after) = named
        .get_after_long_help()
        .or_else(|| named.get_after_help())
    {
        text.push_str(".SH NOTES\n");
        for line in after.to_string().lines() {
            if line.trim().is_empty() {
                text.push_str(".PP\n");
            } else {
                let _ = writeln!(text, "{}", esc(line));
            }
        }
    }
    text.push_str(".SH SEE ALSO\n");
    if page == "git-oompa" {
        text.push_str(
            "\\fBgit oompa help\\fR [\\fICOMMAND\\fR] prints these pages' text without man. \
             The README of git oompa covers setup, configuration and the data model.\n",
        );
    } else {
        let parent = page.rsplit_once('-').map_or("git-oompa", |(p, _)| p);
        let _ = writeln!(text, "\\fB{}\\fR(1), \\fBgit\\-oompa\\fR(1)", esc(parent));
    }
    let _ = writeln!(text, ".SH VERSION\nv{}", esc(env!("CARGO_PKG_VERSION")));
    text
}

/// `.SH SYNOPSIS` with every visible option and its value, positionals and the command slot.
fn synopsis(cmd: &clap::Command, invocation: &str) -> String {
    let mut parts = vec![format!("\\fB{}\\fR", esc(invocation))];
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        if arg.is_positional() {
            continue;
        }
        let flag = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("\\fB\\-{s}\\fR|\\fB\\-\\-{}\\fR", esc(l)),
            (Some(s), None) => format!("\\fB\\-{s}\\fR"),
            (None, Some(l)) => format!("\\fB\\-\\-{}\\fR", esc(l)),
            (None, None) => continue,
        };
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
        let value = if takes_value {
            format!(" \\fI{}\\fR", esc(&value_name(arg)))
        } else {
            String::new()
        };
        let repeat = matches!(
            arg.get_action(),
            clap::ArgAction::Count | clap::ArgAction::Append
        );
        let body = format!("{flag}{value}");
        let body = if arg.is_required_set() {
            body
        } else {
            format!("[{body}]")
        };
        parts.push(if repeat { format!("{body}...") } else { body });
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let name = format!("\\fI{}\\fR", esc(&value_name(arg)));
        let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let name = if many { format!("{name}...") } else { name };
        parts.push(if arg.is_required_set() {
            name
        } else {
            format!("[{name}]")
        });
    }
    if visible_subcommands(cmd).next().is_some() {
        parts.push("\\fICOMMAND\\fR".to_string());
    }
    // Left-aligned and unhyphenated, so the words keep single spaces and flags stay whole.
    format!(".SH SYNOPSIS\n.ad l\n.nh\n{}\n.ad\n.hy\n", parts.join(" "))
}

fn value_name(arg: &clap::Arg) -> String {
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => arg.get_id().as_str().to_ascii_uppercase(),
    }
}

/// Text for a roff line: backslashes and hyphens escaped, a leading `.` or `'` neutralised.
fn esc(s: &str) -> String {
    let mut out = s.replace('\\', "\\e").replace('-', "\\-");
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(name: &str) -> String {
        all_pages()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .expect("the page exists")
    }

    #[test]
    fn the_synopsis_names_option_values_and_no_page_is_referenced_that_is_not_written() {
        let top = page("git-oompa");
        assert!(top.contains("[\\fB\\-C\\fR \\fIDIR\\fR]"), "{top}");
        assert!(top.contains("[\\fB\\-\\-color\\fR \\fIWHEN\\fR]"), "{top}");
        assert!(!top.contains("help(1)"), "{top}");
        assert!(top.contains("\\fBgit\\-oompa\\-task\\fR(1)"), "{top}");
        assert!(top.contains(STAMP), "{top}");
        let claim = page("git-oompa-task-claim");
        assert!(claim.contains("\\fBgit oompa task claim\\fR"), "{claim}");
        assert!(claim.contains("\\fIIDS\\fR..."), "{claim}");
        assert!(claim.contains("\\fBgit\\-oompa\\-task\\fR(1)"), "{claim}");
    }

    #[test]
    fn pages_go_beside_a_bin_directory_only() {
        assert_eq!(
            beside(Path::new("/home/u/.cargo/bin/git-oompa")),
            Some(PathBuf::from("/home/u/.cargo/share/man/man1"))
        );
        assert_eq!(beside(Path::new("/src/target/debug/git-oompa")), None);
    }
}
