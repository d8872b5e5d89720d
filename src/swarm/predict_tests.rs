use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// A temporary repository built with the git CLI: `main` has `a.txt` (ten numbered lines),
/// `b.txt` and `src/{x,y}.rs`.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

const SWARM: &str = "s1";

fn ten_lines() -> String {
    (1..=10).map(|i| format!("line {i}\n")).collect()
}

/// `a.txt` with line `n` replaced by `text`.
fn a_with(n: usize, text: &str) -> String {
    (1..=10)
        .map(|i| {
            if i == n {
                format!("{text}\n")
            } else {
                format!("line {i}\n")
            }
        })
        .collect()
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::Builder::new()
            .prefix("oompa-predict-")
            .tempdir_in(if Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .expect("temp dir");
        let fx = Fixture {
            dir: tmp.path().to_path_buf(),
            _tmp: tmp,
        };
        fx.git(&["init", "-q", "-b", "main"]);
        fx.git(&["config", "user.name", "T"]);
        fx.git(&["config", "user.email", "t@example.invalid"]);
        fx.commit_on(
            "main",
            None,
            &[
                ("a.txt", Some(&ten_lines())),
                ("b.txt", Some("b\n")),
                ("src/x.rs", Some("// x\n")),
                ("src/y.rs", Some("// y\n")),
            ],
        );
        fx
    }

    /// git in the repository, with no outside configuration.
    fn git_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(&self.dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_SYSTEM", "/dev/null")
            .env("HOME", &self.dir)
            .env("LC_ALL", "C");
        cmd
    }

    fn git(&self, args: &[&str]) -> String {
        let out = self.git_cmd(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Commits `files` (path → content, `None` deletes) on top of `from` (a revision; `None`
    /// for the current `branch` tip) and points `branch` at the new commit.
    fn commit_on(
        &self,
        branch: &str,
        from: Option<&str>,
        files: &[(&str, Option<&str>)],
    ) -> ObjectId {
        let full = format!("refs/heads/{branch}");
        match from {
            Some(from) => self.git(&["checkout", "-q", "--detach", from]),
            None if self.rev(&full).is_some() => self.git(&["checkout", "-q", "--detach", &full]),
            None => String::new(),
        };
        for (path, content) in files {
            let p = self.dir.join(path);
            match content {
                Some(c) => {
                    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
                    std::fs::write(&p, c).expect("write");
                }
                None => std::fs::remove_file(&p).expect("remove"),
            }
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", &format!("change on {branch}")]);
        let id = self.rev("HEAD").expect("HEAD");
        self.git(&["update-ref", &full, &id.to_string()]);
        id
    }

    /// A worker branch of swarm `s1` forked from `main`'s current tip.
    fn worker(&self, worker: &str, files: &[(&str, Option<&str>)]) -> ObjectId {
        self.commit_on(&format!("oompa/{SWARM}/{worker}"), Some("main"), files)
    }

    fn rev(&self, spec: &str) -> Option<ObjectId> {
        let out = self
            .git_cmd(&["rev-parse", "--verify", "-q", spec])
            .output()
            .expect("rev-parse");
        out.status
            .success()
            .then(|| ObjectId::from_hex(String::from_utf8_lossy(&out.stdout).trim().as_bytes()))
            .map(|r| r.expect("hex"))
    }

    fn repo(&self) -> Repo {
        Repo::discover(&self.dir).expect("open")
    }

    /// `live_branches` then `compute`, against `main`.
    fn predict(&self) -> Prediction {
        let repo = self.repo();
        let target = self.rev("refs/heads/main").expect("main");
        let branches = live_branches(&repo, SWARM, target).expect("live branches");
        compute(&repo.into_shared(), target, &branches).expect("compute")
    }

    /// Every file under `.git/objects` (loose objects, packs and their indexes).
    fn object_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut dirs = vec![self.dir.join(".git/objects")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

fn pairs(p: &Prediction) -> Vec<(String, String, Vec<String>)> {
    p.conflicts
        .iter()
        .map(|c| (c.a.clone(), c.b.clone(), c.paths.clone()))
        .collect()
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[test]
fn two_branches_editing_the_same_lines_are_one_pair_with_the_path() {
    let fx = Fixture::new();
    fx.worker("w1", &[("a.txt", Some(&a_with(3, "one")))]);
    fx.worker(
        "w2",
        &[("a.txt", Some(&a_with(3, "two"))), ("b.txt", Some("b2\n"))],
    );
    let p = fx.predict();
    assert_eq!(
        pairs(&p),
        vec![("w1".into(), "w2".into(), strings(&["a.txt"]))]
    );
    assert_eq!(p.target, fx.rev("main").expect("main").to_string());
    assert!(p.at.parse::<jiff::Timestamp>().is_ok(), "{}", p.at);
    let changed: Vec<_> = p
        .branches
        .iter()
        .map(|b| (b.worker.as_str(), b.changed.clone()))
        .collect();
    assert_eq!(
        changed,
        vec![
            ("w1", strings(&["a.txt"])),
            ("w2", strings(&["a.txt", "b.txt"]))
        ]
    );
    assert!(flagged(&p, "w1") && flagged(&p, "w2") && !flagged(&p, "w3"));
}

#[test]
fn branches_editing_different_files_or_distant_lines_are_no_pair() {
    let fx = Fixture::new();
    fx.worker("w1", &[("a.txt", Some(&a_with(2, "one")))]);
    fx.worker("w2", &[("b.txt", Some("b2\n"))]);
    // Same file as w1, far enough away to merge cleanly: overlapping paths are merged, and
    // a clean merge is no conflict.
    fx.worker("w3", &[("a.txt", Some(&a_with(9, "three")))]);
    let p = fx.predict();
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert_eq!(p.branches.len(), 3);
    assert!(!flagged(&p, "w1"));
}

#[test]
fn a_branch_conflicting_with_the_target_is_a_pair_with_target() {
    let fx = Fixture::new();
    fx.worker("w1", &[("a.txt", Some(&a_with(3, "worker")))]);
    fx.commit_on("main", None, &[("a.txt", Some(&a_with(3, "landed")))]);
    let p = fx.predict();
    assert_eq!(
        pairs(&p),
        vec![("w1".into(), TARGET.into(), strings(&["a.txt"]))]
    );
    assert!(flagged(&p, "w1"));
}

#[test]
fn a_pair_is_not_blamed_for_target_commits_one_of_them_lacks() {
    let fx = Fixture::new();
    // w1 forks, then main changes the line w1 changes, then w2 forks from the new main and
    // works elsewhere: merging w2 into w1 conflicts, but only because of main's commit.
    fx.worker("w1", &[("a.txt", Some(&a_with(3, "worker")))]);
    fx.commit_on("main", None, &[("a.txt", Some(&a_with(3, "landed")))]);
    fx.worker("w2", &[("b.txt", Some("b2\n"))]);
    let p = fx.predict();
    assert_eq!(
        pairs(&p),
        vec![("w1".into(), TARGET.into(), strings(&["a.txt"]))]
    );
    assert!(!flagged(&p, "w2"));
}

#[test]
fn a_file_against_a_directory_of_the_same_name_is_a_pair() {
    let fx = Fixture::new();
    fx.worker("w1", &[("docs", Some("a file\n"))]);
    fx.worker("w2", &[("docs/index.md", Some("a dir\n"))]);
    let p = fx.predict();
    let found = pairs(&p);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0.as_str(), found[0].1.as_str()), ("w1", "w2"));
    assert!(
        found[0].2.iter().any(|p| p.starts_with("docs")),
        "{found:?}"
    );
}

#[test]
fn a_branch_already_merged_into_the_target_is_not_live() {
    let fx = Fixture::new();
    fx.worker("w1", &[("b.txt", Some("b1\n"))]);
    let w2 = fx.worker("w2", &[("a.txt", Some(&a_with(3, "two")))]);
    fx.git(&["checkout", "-q", "main"]);
    fx.git(&["merge", "-q", "--ff-only", "oompa/s1/w1"]);
    // Another swarm's branch and a branch pointing at the target itself are not live either.
    fx.git(&["update-ref", "refs/heads/oompa/s2/w9", &w2.to_string()]);
    fx.git(&["update-ref", "refs/heads/oompa/s1/w3", "main"]);
    let repo = fx.repo();
    let main = fx.rev("main").expect("main");
    let live = live_branches(&repo, SWARM, main).expect("live");
    assert_eq!(live, vec![("w2".to_string(), w2)]);

    // compute itself also leaves out a branch contained in the target.
    let w1 = fx.rev("oompa/s1/w1").expect("w1");
    let p = compute(
        &repo.into_shared(),
        main,
        &[("w1".into(), w1), ("w2".into(), w2)],
    )
    .expect("compute");
    let workers: Vec<_> = p.branches.iter().map(|b| b.worker.as_str()).collect();
    assert_eq!(workers, ["w2"]);
}

#[test]
fn live_branches_are_ordered_by_worker_number() {
    let fx = Fixture::new();
    for w in ["w10", "w2", "w1", "planner"] {
        fx.worker(w, &[(&format!("{w}.txt"), Some("x\n"))]);
    }
    let main = fx.rev("main").expect("main");
    let live = live_branches(&fx.repo(), SWARM, main).expect("live");
    let names: Vec<_> = live.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(names, ["planner", "w1", "w2", "w10"]);
}

#[test]
fn compute_writes_nothing_to_the_object_database() {
    let fx = Fixture::new();
    fx.worker("w1", &[("a.txt", Some(&a_with(3, "one")))]);
    fx.worker("w2", &[("a.txt", Some(&a_with(3, "two")))]);
    fx.worker("w3", &[("a.txt", Some(&a_with(8, "three")))]);
    fx.commit_on("main", None, &[("a.txt", Some(&a_with(5, "landed")))]);
    let before = fx.object_files();
    let count_before = fx.git(&["count-objects", "-v"]);
    let p = fx.predict();
    // Clean merges (w3 into main, w3 with w1) and conflicted ones both ran...
    assert_eq!(
        pairs(&p),
        vec![("w1".into(), "w2".into(), strings(&["a.txt"]))]
    );
    // ...and none of their trees or blobs reached the disk.
    assert_eq!(fx.object_files(), before);
    assert_eq!(fx.git(&["count-objects", "-v"]), count_before);
    let dry = fx.repo().into_shared().dry_run();
    let (w1, w3) = (
        fx.rev("oompa/s1/w1").expect("test fixture"),
        fx.rev("oompa/s1/w3").expect("test fixture"),
    );
    assert!(matches!(
        dry.check_merge(w1, w3).expect("merge"),
        Merge::Clean { .. }
    ));
    assert_eq!(
        dry.objects_in_memory(),
        0,
        "memory is dropped after each merge"
    );
}

#[test]
fn compute_on_no_branches_is_empty() {
    let fx = Fixture::new();
    let main = fx.rev("main").expect("main");
    let p = compute(&fx.repo().into_shared(), main, &[]).expect("compute");
    assert!(p.branches.is_empty() && p.conflicts.is_empty());
}

#[test]
fn changed_paths_lists_files_added_deleted_and_modified() {
    let fx = Fixture::new();
    let base = fx.rev("main").expect("main");
    let tip = fx.worker(
        "w1",
        &[
            ("b.txt", None),
            ("src/x.rs", Some("// x2\n")),
            ("src/new/z.rs", Some("z\n")),
        ],
    );
    let repo = fx.repo();
    assert_eq!(
        repo.changed_paths(Some(base), tip).expect("diff"),
        strings(&["b.txt", "src/new/z.rs", "src/x.rs"])
    );
    assert_eq!(
        repo.changed_paths(None, base).expect("diff"),
        strings(&["a.txt", "b.txt", "src/x.rs", "src/y.rs"])
    );
    assert!(repo.changed_paths(Some(tip), tip).expect("diff").is_empty());
}

fn prediction(branches: &[(&str, &[&str])]) -> Prediction {
    Prediction {
        branches: branches
            .iter()
            .map(|(w, changed)| LiveBranch {
                worker: w.to_string(),
                tip: String::new(),
                changed: strings(changed),
            })
            .collect(),
        ..Prediction::default()
    }
}

#[test]
fn overlaps_match_exact_paths_and_directory_prefixes_but_not_me() {
    let p = prediction(&[
        ("w1", &["src/a.rs", "src/b.rs", "README.md"]),
        ("w2", &["src/a.rs"]),
        ("w3", &["docs/x.md", "srcx/a.rs"]),
        ("w4", &["src/deep/c.rs"]),
    ]);
    assert_eq!(
        overlaps(&p, &strings(&["src/a.rs"]), "w2"),
        vec![("w1".to_string(), strings(&["src/a.rs"]))]
    );
    assert_eq!(
        overlaps(&p, &strings(&["src/", "README.md"]), "w9"),
        vec![
            (
                "w1".to_string(),
                strings(&["src/a.rs", "src/b.rs", "README.md"])
            ),
            ("w2".to_string(), strings(&["src/a.rs"])),
            ("w4".to_string(), strings(&["src/deep/c.rs"])),
        ]
    );
    // `src` without the slash is a directory too, and never matches `srcx/`.
    assert_eq!(
        overlaps(&p, &strings(&["./src"]), "w1")
            .into_iter()
            .map(|(w, _)| w)
            .collect::<Vec<_>>(),
        ["w2", "w4"]
    );
    assert!(overlaps(&p, &strings(&["src/a"]), "w9").is_empty());
    assert!(overlaps(&p, &[], "w9").is_empty());
}

#[test]
fn touch_sees_shared_files_and_file_directory_clashes() {
    let s = |v: &[&str]| strings(v);
    assert!(touch(&s(&["a", "b/c"]), &s(&["b/c"])));
    assert!(touch(&s(&["d"]), &s(&["d/e/f"])));
    assert!(touch(&s(&["d/e/f"]), &s(&["d/e"])));
    assert!(!touch(&s(&["d/e"]), &s(&["d/f", "de"])));
    assert!(!touch(&s(&[]), &s(&["a"])));
}

#[test]
fn predictions_round_trip_through_their_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = prediction_path(tmp.path(), "abc123");
    assert_eq!(path, tmp.path().join("oompa/swarms/abc123/prediction.json"));
    assert!(read(&path).is_none());
    let mut p = prediction(&[("w1", &["a"]), ("w2", &["a"])]);
    p.conflicts.push(ConflictPair {
        a: "w1".into(),
        b: "w2".into(),
        paths: strings(&["a"]),
    });
    write(&path, &p).expect("write");
    write(&path, &p).expect("overwrite");
    let back = read(&path).expect("read");
    assert_eq!(pairs(&back), pairs(&p));
    assert_eq!(back.branches.len(), 2);
    let left: Vec<_> = std::fs::read_dir(path.parent().expect("test fixture"))
        .expect("test fixture")
        .map(|e| e.expect("test fixture").file_name())
        .collect();
    assert_eq!(
        left,
        ["prediction.json"],
        "no temporary file is left behind"
    );
    std::fs::write(&path, "{ not json").expect("test fixture");
    assert!(read(&path).is_none());
}

#[test]
fn a_branch_with_unrelated_history_is_listed_but_never_merged() {
    let fx = Fixture::new();
    fx.worker("w1", &[("a.txt", Some(&a_with(3, "one")))]);
    fx.git(&["checkout", "-q", "--orphan", "stray"]);
    fx.git(&["rm", "-q", "-rf", "."]);
    fx.commit_on("oompa/s1/w2", None, &[("a.txt", Some("unrelated\n"))]);
    let p = fx.predict();
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    let changed: Vec<_> = p
        .branches
        .iter()
        .map(|b| (b.worker.as_str(), b.changed.clone()))
        .collect();
    assert_eq!(
        changed,
        vec![("w1", strings(&["a.txt"])), ("w2", strings(&["a.txt"]))]
    );
}
