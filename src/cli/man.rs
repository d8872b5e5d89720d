//! `git oompa install-man-pages DIR`: writes `git-oompa.1` and one page per subcommand into
//! `DIR/man1`, generated from the same clap definitions as `--help`, so `git help oompa`
//! (which `git oompa --help` becomes) shows them once DIR is on the MANPATH.

use std::path::{Path, PathBuf};

use super::{CommandError, Env};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A man directory such as ~/.local/share/man (pages go to DIR/man1)
    pub dir: PathBuf,
}

pub fn run(env: &Env, args: Args) -> Result<(), CommandError> {
    let man1 = args.dir.join("man1");
    std::fs::create_dir_all(&man1)
        .map_err(|e| CommandError::user(format!("cannot create {}: {e}", man1.display())))?;
    let written = write_pages(&man1)?;
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

/// Writes every page into `man1`, returning their paths.
pub fn write_pages(man1: &Path) -> Result<Vec<PathBuf>, CommandError> {
    let mut cmd = super::command().name("git-oompa").bin_name("git oompa");
    cmd.build();
    let mut written = Vec::new();
    write_tree(&cmd, "git-oompa", "git oompa", man1, &mut written)?;
    Ok(written)
}

fn write_tree(
    cmd: &clap::Command,
    page: &str,
    invocation: &str,
    man1: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), CommandError> {
    let named = cmd
        .clone()
        .name(page.to_string())
        .bin_name(invocation.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(named)
        .title(page.to_ascii_uppercase())
        .section("1")
        .manual("Git Oompa Manual")
        .render(&mut buf)
        .map_err(|e| CommandError::user(format!("rendering {page}.1: {e}")))?;
    let path = man1.join(format!("{page}.1"));
    std::fs::write(&path, buf)
        .map_err(|e| CommandError::user(format!("writing {}: {e}", path.display())))?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let name = sub.get_name();
        write_tree(
            sub,
            &format!("{page}-{name}"),
            &format!("{invocation} {name}"),
            man1,
            written,
        )?;
    }
    Ok(())
}
