//! `git oompa init`, man pages and completions.

use std::process::Output;

use crate::common::{TestEnv, stderr, stdout};

#[test]
fn init_is_idempotent_and_says_what_it_did() {
    let env = TestEnv::new();
    let out = env.oompa(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("created refs/oompa/tasks"), "{err}");
    assert!(err.contains("wrote oompa.toml"), "{err}");
    assert!(err.contains("added /.oompa/ to .git/info/exclude"), "{err}");
    let skeleton = std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap();
    assert!(skeleton.contains("[[worker]]"), "{skeleton}");
    let tip = env.git(&["rev-parse", "refs/oompa/tasks"]);
    assert_eq!(
        env.git(&["ls-tree", "refs/oompa/tasks"]),
        "",
        "the queue starts empty"
    );

    std::fs::write(env.repo.join("oompa.toml"), "# mine\n").unwrap();
    let out = env.oompa(&["init"]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("refs/oompa/tasks already exists"), "{err}");
    assert!(err.contains("oompa.toml already exists"), "{err}");
    assert!(err.contains("already in .git/info/exclude"), "{err}");
    assert_eq!(
        std::fs::read_to_string(env.repo.join("oompa.toml")).unwrap(),
        "# mine\n"
    );
    assert_eq!(env.git(&["rev-parse", "refs/oompa/tasks"]), tip);
    let exclude = std::fs::read_to_string(env.repo.join(".git/info/exclude")).unwrap();
    assert_eq!(exclude.matches("/.oompa/").count(), 1);

    // The worktree dir is ignored by git status.
    std::fs::create_dir_all(env.repo.join(".oompa/worktrees/x")).unwrap();
    std::fs::write(env.repo.join(".oompa/worktrees/x/f"), "x").unwrap();
    let status = env.git(&["status", "--porcelain"]);
    assert!(!status.contains(".oompa"), "{status}");
}

#[test]
fn man_pages_install_and_git_help_finds_them() {
    let env = TestEnv::new();
    let mandir = env.tmp.path().join("man");
    let out = env.oompa_ok(&["install-man-pages", mandir.to_str().unwrap()]);
    for page in [
        "git-oompa.1",
        "git-oompa-task.1",
        "git-oompa-task-claim.1",
        "git-oompa-init.1",
        "git-oompa-doctor.1",
        "git-oompa-gc.1",
        "git-oompa-hooks.1",
        "git-oompa-hooks-install.1",
    ] {
        assert!(
            mandir.join("man1").join(page).is_file(),
            "{page} missing; wrote:\n{out}"
        );
    }
    let main = std::fs::read_to_string(mandir.join("man1/git-oompa.1")).unwrap();
    assert!(
        main.contains("git\\-oompa") || main.contains("git-oompa"),
        "{main}"
    );
    assert!(
        main.contains("refs/oompa/tasks"),
        "the long description is in the page"
    );
    // `git help oompa` looks for the page `git-oompa`; check `man -w` resolves it when man exists.
    if has_man() {
        let out = git_with_man_pages(&env, &mandir, &["help", "-m", "oompa"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("swarm of coding agents"),
            "git help oompa:\n{text}\n{}",
            stderr(&out)
        );
    }
}

/// Whether this machine has `man`.
fn has_man() -> bool {
    std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok()
}

/// `git ARGS` reading man pages from `mandir` (only) and printing them without a pager.
fn git_with_man_pages(env: &TestEnv, mandir: &std::path::Path, args: &[&str]) -> Output {
    env.git_cmd(args)
        .env("MANPATH", mandir)
        // git maps `help oompa` to the page `git-oompa` only when git-oompa is on PATH.
        .env("PATH", crate::common::path_with_bin())
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .unwrap()
}

#[test]
fn completions_for_each_shell() {
    let env = TestEnv::new();
    // The scripts ask git-oompa for candidates (test_completions runs them in each shell).
    for (shell, word) in [
        ("bash", "_git_oompa ()"),
        ("zsh", "_git-oompa()"),
        (
            "fish",
            "complete -c git -f -n '__fish_git_using_command oompa'",
        ),
        ("elvish", "git-oompa"),
    ] {
        let out = env.oompa_ok(&["completions", shell]);
        assert!(out.contains(word), "{shell} lacks {word}: {out}");
    }
}

#[test]
fn hidden_plumbing_has_no_man_page() {
    let env = TestEnv::new();
    let mandir = env.tmp.path().join("man");
    env.oompa_ok(&["install-man-pages", mandir.to_str().unwrap()]);
    for page in [
        "git-oompa-hook.1",
        "git-oompa-install-man-pages.1",
        "git-oompa-demo-agent.1",
        "git-oompa-help.1",
    ] {
        assert!(!mandir.join("man1").join(page).exists(), "{page}");
    }
    assert!(mandir.join("man1/git-oompa-completions.1").is_file());
    let top = std::fs::read_to_string(mandir.join("man1/git-oompa.1")).unwrap();
    assert!(
        !top.contains("help(1)"),
        "a page that is never written:\n{top}"
    );
}

/// A copy of the binary in `<prefix>/bin`, as `cargo install` leaves it; returns the prefix.
fn installed_copy(env: &TestEnv) -> std::path::PathBuf {
    let prefix = env.tmp.path().join("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::fs::copy(crate::common::BIN, prefix.join("bin/git-oompa")).unwrap();
    prefix
}

/// `PATH` with `<prefix>/bin` first and no `MANPATH`: what a user has after the README's setup.
fn as_installed(cmd: &mut std::process::Command, prefix: &std::path::Path) {
    let mut paths = vec![prefix.join("bin")];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    cmd.env("PATH", std::env::join_paths(paths).unwrap())
        .env_remove("MANPATH")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "80");
}

#[test]
fn the_first_run_installs_the_manual_where_git_help_finds_it() {
    let env = TestEnv::new();
    let prefix = installed_copy(&env);
    let run = |args: &[&str]| {
        let mut cmd = env.git_cmd(args);
        as_installed(&mut cmd, &prefix);
        cmd.output().unwrap()
    };
    let out = run(&["oompa", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let man1 = prefix.join("share/man/man1");
    assert!(
        stderr(&out).contains(&format!(
            "installed git oompa's manual pages in {}",
            man1.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(man1.join("git-oompa.1").is_file());
    assert!(man1.join("git-oompa-task-claim.1").is_file());
    // `git help oompa-task` asks man for `gitoompa-task`: an alias page answers it.
    assert_eq!(
        std::fs::read_to_string(man1.join("gitoompa-task.1")).unwrap(),
        ".so man1/git-oompa-task.1\n"
    );
    // Said once: the next run finds this version's pages.
    let out = run(&["oompa", "status"]);
    assert!(!stderr(&out).contains("manual pages"), "{}", stderr(&out));
    // An older version's pages are replaced, and it says so.
    std::fs::write(
        man1.join("git-oompa.1"),
        ".TH GIT-OOMPA 1 \"\" \"git-oompa 0.0.1\"\n",
    )
    .unwrap();
    let out = run(&["oompa", "--version"]);
    assert!(
        stderr(&out).contains("updated git oompa's manual pages"),
        "{}",
        stderr(&out)
    );

    if !has_man() {
        eprintln!("*** SKIPPED the `git help oompa` part: man is not installed ***");
        return;
    }
    // No MANPATH: man finds the pages from PATH (`<prefix>/bin` → `<prefix>/share/man`).
    for args in [
        &["help", "oompa"][..],
        &["oompa", "--help"][..],
        &["help", "oompa-task"][..],
        &["help", "oompa-task-claim"][..],
    ] {
        let out = run(args);
        let text = stdout(&out);
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        assert!(text.contains("SYNOPSIS"), "git {args:?}:\n{text}");
    }
    let text = stdout(&run(&["help", "oompa"]));
    assert!(text.contains("-C DIR"), "{text}");
    let text = stdout(&run(&["help", "oompa-task-claim"]));
    assert!(text.contains("git oompa task claim"), "{text}");
}

#[test]
fn git_oompa_help_opens_the_man_page_through_git() {
    let env = TestEnv::new();
    let mandir = env.tmp.path().join("man");
    env.oompa_ok(&["install-man-pages", mandir.to_str().unwrap()]);
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("no man on this machine; skipping");
        return;
    }
    // `git oompa --help` is git's `git help oompa`, which runs `man git-oompa`.
    for args in [&["oompa", "--help"][..], &["help", "oompa"][..]] {
        let out = git_with_man_pages(&env, &mandir, args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        assert!(text.contains("NAME"), "git {args:?}:\n{text}");
        assert!(text.contains("git-oompa"), "git {args:?}:\n{text}");
    }
    // Each subcommand has its page too: `man git-oompa-doctor`.
    let out = std::process::Command::new("man")
        .arg("git-oompa-doctor")
        .env("MANPATH", &mandir)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--fix"), "{text}{}", stderr(&out));
}
