//! Shell completion through a real bash with git's own completion script: `git oompa <TAB>`
//! completes subcommands, flags, values and task ids, never hidden commands; zsh and fish
//! through their own completion systems when they are installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestEnv, path_with_bin, stderr, stdout};

/// Where distributions put git's bash completion (Debian's git package ships the first).
const GIT_COMPLETION: &[&str] = &[
    "/usr/share/bash-completion/completions/git",
    "/usr/share/git-core/contrib/completion/git-completion.bash",
    "/usr/share/git/completion/git-completion.bash",
    "/etc/bash_completion.d/git",
];

fn git_completion() -> PathBuf {
    GIT_COMPLETION
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "git's bash completion script is in none of {GIT_COMPLETION:?}; install git's \
                 completion (Debian: the git package; elsewhere contrib/completion/\
                 git-completion.bash from git's sources)"
            )
        })
}

/// A queue with t-pending-1, t-pending-2 (pending), t-held (claimed) and t-done (complete).
fn repo_with_tasks() -> TestEnv {
    let env = TestEnv::new();
    env.oompa_ok(&["init"]);
    for (id, summary) in [
        ("t-pending-1", "First pending task"),
        ("t-pending-2", "Second pending task"),
        ("t-held", "A claimed task"),
        ("t-done", "A finished task"),
    ] {
        env.oompa_ok(&["task", "add", summary, "--id", id]);
    }
    env.oompa_ok(&["task", "claim", "t-held", "--worker", "w0", "--swarm", "s0"]);
    let repo = env.open();
    let q = oompa::store::Queue::new(&repo);
    let id = oompa::store::TaskId::new("t-done").unwrap();
    let (_, task) = q.get(&id).unwrap();
    let mut done = task;
    done.landed = Some(oompa::store::Landed {
        commit: "unknown".into(),
        review_rounds: 0,
        at: "2026-01-01T00:00:00Z".into(),
        worker: None,
    });
    let tip = repo.read_ref(oompa::store::QUEUE_REF).unwrap().unwrap();
    let tree = repo.commit_tree(tip).unwrap();
    let blob = repo.write_blob(&done.to_json()).unwrap();
    let new_tree = repo
        .edit_tree(
            Some(tree),
            &[
                ("pending/t-done.json".to_string(), None),
                ("complete/t-done.json".to_string(), Some(blob)),
            ],
        )
        .unwrap();
    let commit = repo.commit("complete t-done", new_tree, &[tip]).unwrap();
    repo.cas_ref(oompa::store::QUEUE_REF, Some(tip), commit, "test")
        .unwrap();
    env
}

/// Runs bash with git's completion and ours loaded (as the README says to install it) and
/// completes `line` (the cursor at its end) in `dir`; returns COMPREPLY, one entry a line.
fn bash_complete(env: &TestEnv, dir: &Path, line: &str) -> Vec<String> {
    let script = env.tmp.path().join("git-oompa.bash");
    if !script.exists() {
        std::fs::write(&script, env.oompa_ok(&["completions", "bash"])).unwrap();
    }
    let words: Vec<String> = {
        let mut w: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if line.ends_with(' ') {
            w.push(String::new());
        }
        w
    };
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source {git}\nsource {ours}\n\
         COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}\n\
         spec=$(complete -p {cmd}); fn=${{spec##*-F }}; fn=${{fn%% *}}\n\
         \"$fn\" {cmd} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s|\\n' \"${{COMPREPLY[@]}}\"\n",
        git = git_completion().display(),
        ours = script.display(),
        words = quoted.join(" "),
        cword = words.len() - 1,
        cmd = words[0],
    );
    let mut cmd = Command::new("bash");
    crate::common::hermetic(&mut cmd, &env.home);
    let out = cmd
        .current_dir(dir)
        .env("PATH", path_with_bin())
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .unwrap();
    assert!(out.status.success(), "bash: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|l| l.strip_suffix('|'))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn git_oompa_tab_completes_commands_flags_values_and_task_ids_in_bash() {
    let env = repo_with_tasks();
    let at = |line: &str| bash_complete(&env, &env.repo, line);

    let top = at("git oompa ");
    for visible in [
        "init ",
        "task ",
        "swarm ",
        "log ",
        "status ",
        "check ",
        "demo ",
        "doctor ",
        "gc ",
        "hooks ",
        "completions ",
        "help ",
    ] {
        assert!(top.contains(&visible.to_string()), "{visible:?} in {top:?}");
    }
    for hidden in [
        "hook ",
        "demo-agent ",
        "install-man-pages ",
        "run ",
        "list ",
    ] {
        assert!(!top.contains(&hidden.to_string()), "{hidden:?} in {top:?}");
    }
    assert_eq!(at("git oompa ta"), ["task "]);
    assert_eq!(at("git oompa hoo"), ["hooks "], "never the hidden `hook`");
    let task = at("git oompa task ");
    for sub in ["add ", "list ", "show ", "claim ", "release ", "import "] {
        assert!(task.contains(&sub.to_string()), "{sub:?} in {task:?}");
    }

    // Task ids: pending for claim, claimed for release, any for show.
    assert_eq!(
        sorted(at("git oompa task claim ")),
        ["t-pending-1 ", "t-pending-2 "]
    );
    assert_eq!(
        at("git oompa task claim t-pending-"),
        at("git oompa task claim ")
    );
    assert_eq!(at("git oompa task release "), ["t-held "]);
    assert_eq!(
        sorted(at("git oompa task show t-")),
        ["t-done ", "t-held ", "t-pending-1 ", "t-pending-2 "]
    );
    assert_eq!(at("git oompa log --task t-h"), ["t-held "]);
    crate::common::guard::start_swarm(&env, "s-demo", std::process::id(), &["w0"]);
    assert_eq!(at("git oompa log --swarm s-"), ["s-demo "]);

    // Flags and their values, with `=` as bash splits it.
    let flags = at("git oompa log --");
    for flag in ["--json ", "--swarm ", "--worker ", "--task ", "--since "] {
        assert!(flags.contains(&flag.to_string()), "{flag:?} in {flags:?}");
    }
    assert_eq!(
        sorted(at("git oompa task list --state ")),
        ["complete ", "current ", "pending "]
    );
    assert_eq!(
        sorted(at("git oompa task list --state=c")),
        ["complete ", "current "]
    );

    // `git -C DIR oompa …` completes in DIR; `git-oompa …` typed directly completes too.
    assert_eq!(
        sorted(bash_complete(
            &env,
            env.tmp.path(),
            &format!("git -C {} oompa task claim ", env.repo.display())
        )),
        ["t-pending-1 ", "t-pending-2 "]
    );
    assert_eq!(at("git-oompa task cl"), ["claim "]);
}

/// Whether `shell` runs here; when it does not, says loudly that its test was skipped.
fn have(shell: &str, test: &str) -> bool {
    let ok = Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("*** SKIPPED {test}: {shell} is not installed ***");
    }
    ok
}

#[test]
fn git_oompa_tab_completes_in_fish_through_git_and_directly() {
    if !have("fish", "the fish completion test") {
        return;
    }
    let env = repo_with_tasks();
    let conf = env.home.join(".config/fish/conf.d");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("git-oompa.fish"),
        env.oompa_ok(&["completions", "fish"]),
    )
    .unwrap();
    let complete = |line: &str| -> Vec<String> {
        let mut cmd = Command::new("fish");
        crate::common::hermetic(&mut cmd, &env.home);
        let out = cmd
            .current_dir(&env.repo)
            .env("PATH", path_with_bin())
            .args(["-c", &format!("complete -C '{line}'")])
            .output()
            .unwrap();
        assert!(out.status.success(), "fish: {}", stderr(&out));
        sorted(stdout(&out).lines().map(str::to_string).collect())
    };
    assert_eq!(
        complete("git oompa task claim "),
        [
            "t-pending-1\tFirst pending task",
            "t-pending-2\tSecond pending task"
        ]
    );
    assert_eq!(
        complete("git oompa task release "),
        ["t-held\tA claimed task"]
    );
    let top = complete("git oompa ");
    assert!(top.iter().any(|l| l.starts_with("swarm\t")), "{top:?}");
    assert!(!top.iter().any(|l| l.starts_with("hook\t")), "{top:?}");
    assert_eq!(
        complete("git-oompa task rel"),
        ["release\tReturn claimed tasks to pending"]
    );
}

#[test]
fn git_oompa_tab_completes_in_zsh() {
    if !have("zsh", "the zsh completion test") {
        return;
    }
    let env = repo_with_tasks();
    let script = env.tmp.path().join("_git-oompa");
    std::fs::write(&script, env.oompa_ok(&["completions", "zsh"])).unwrap();
    // zsh's `_git` calls `_git-oompa` with `words` starting at `oompa`; `_describe` is
    // stubbed to print what it would offer.
    let complete = |words: &str| -> Vec<String> {
        let prog = format!(
            "compdef() {{ :; }}\n_describe() {{ print -rl -- \"${{(@P)${{@[-1]}}}}\"; }}\n\
             source {script}\nwords=({words}); CURRENT=${{#words}}\n_git-oompa\n",
            script = script.display()
        );
        let mut cmd = Command::new("zsh");
        crate::common::hermetic(&mut cmd, &env.home);
        let out = cmd
            .current_dir(&env.repo)
            .env("PATH", path_with_bin())
            .args(["-f", "-c", &prog])
            .output()
            .unwrap();
        assert!(out.status.success(), "zsh: {}", stderr(&out));
        sorted(stdout(&out).lines().map(str::to_string).collect())
    };
    assert_eq!(
        complete("oompa task claim ''"),
        [
            "t-pending-1:First pending task",
            "t-pending-2:Second pending task"
        ]
    );
    let top = complete("oompa ''");
    assert!(top.iter().any(|l| l.starts_with("swarm:")), "{top:?}");
    assert!(!top.iter().any(|l| l.starts_with("hook:")), "{top:?}");
    assert_eq!(
        complete("oompa task list --state=c"),
        ["--state=complete", "--state=current"]
    );
}
