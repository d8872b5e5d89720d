//! `git oompa init`, man pages and completions.

use crate::common::{TestEnv, stderr};

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
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_ok()
    {
        let out = env
            .git_cmd(&["help", "-m", "oompa"])
            .env("MANPATH", &mandir)
            // git maps `help oompa` to the page `git-oompa` only when git-oompa is on PATH.
            .env("PATH", crate::common::path_with_bin())
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("swarm of coding agents"),
            "git help oompa:\n{text}\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn completions_for_each_shell() {
    let env = TestEnv::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.oompa_ok(&["completions", shell]);
        for word in ["claim", "doctor", "gc", "hooks", "uninstall", "dry-run"] {
            assert!(out.contains(word), "{shell} lacks {word}: {out}");
        }
    }
}

#[test]
fn hidden_plumbing_has_no_man_page() {
    let env = TestEnv::new();
    let mandir = env.tmp.path().join("man");
    env.oompa_ok(&["install-man-pages", mandir.to_str().unwrap()]);
    for page in [
        "git-oompa-hook.1",
        "git-oompa-completions.1",
        "git-oompa-demo-agent.1",
    ] {
        assert!(!mandir.join("man1").join(page).exists(), "{page}");
    }
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
        let out = env
            .git_cmd(args)
            .env("MANPATH", &mandir)
            .env("PATH", crate::common::path_with_bin())
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
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
