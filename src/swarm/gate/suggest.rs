//! `git oompa init`'s gate suggestion: which test command this repository seems to use,
//! guessed from the files at its root. Only ever offered as a commented suggestion.

use std::path::Path;

/// A command the repository seems to use for its tests, and the file that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub command: String,
    pub because: String,
}

/// Every suggestion for the repository rooted at `root`, best first: a Makefile `test` target
/// (the project's own entry point), then Cargo, npm (a real `test` script), pytest, Go.
pub fn suggest(root: &Path) -> Vec<Suggestion> {
    let read = |name: &str| std::fs::read_to_string(root.join(name)).ok();
    let mut out = Vec::new();
    let mut add = |command: &str, because: &str| {
        out.push(Suggestion {
            command: command.into(),
            because: because.into(),
        })
    };
    for name in ["GNUmakefile", "Makefile", "makefile"] {
        if read(name).is_some_and(|t| has_make_target(&t, "test")) {
            add("make test", &format!("the `test` target in {name}"));
            break;
        }
    }
    if root.join("Cargo.toml").is_file() {
        add("cargo test", "Cargo.toml");
    }
    if let Some(pkg) = read("package.json")
        && has_npm_test(&pkg)
    {
        add("npm test", "the `test` script in package.json");
    }
    let pytest = read("pyproject.toml").is_some_and(|t| t.contains("pytest"))
        || root.join("pytest.ini").is_file()
        || root.join("conftest.py").is_file()
        || read("setup.cfg").is_some_and(|t| t.contains("[tool:pytest]"))
        || read("tox.ini").is_some_and(|t| t.contains("[pytest]"));
    if pytest {
        add("pytest -q", "the pytest configuration");
    }
    if root.join("go.mod").is_file() {
        add("go test ./...", "go.mod");
    }
    out
}

/// Whether a Makefile defines `target` (a line `target:` or `target other:`, not `target:=`).
fn has_make_target(text: &str, target: &str) -> bool {
    text.lines().any(|l| {
        let Some((names, rest)) = l.split_once(':') else {
            return false;
        };
        !l.starts_with(['\t', ' ', '#'])
            && !rest.starts_with('=')
            && names.split_whitespace().any(|n| n == target)
    })
}

/// Whether package.json has a `test` script other than npm's placeholder.
fn has_npm_test(text: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    v.get("scripts")
        .and_then(|s| s.get("test"))
        .and_then(|t| t.as_str())
        .is_some_and(|t| !t.contains("no test specified") && !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).expect("write");
        }
        d
    }

    fn commands(files: &[(&str, &str)]) -> Vec<String> {
        suggest(dir(files).path())
            .into_iter()
            .map(|s| s.command)
            .collect()
    }

    #[test]
    fn each_ecosystem_gets_its_test_command() {
        assert_eq!(commands(&[("Cargo.toml", "[package]\n")]), ["cargo test"]);
        assert_eq!(commands(&[("go.mod", "module x\n")]), ["go test ./..."]);
        assert_eq!(
            commands(&[("package.json", r#"{"scripts":{"test":"vitest run"}}"#)]),
            ["npm test"]
        );
        assert_eq!(
            commands(&[("pyproject.toml", "[tool.pytest.ini_options]\n")]),
            ["pytest -q"]
        );
        assert_eq!(
            commands(&[
                ("Makefile", "all:\n\tcc x.c\ntest: all\n\t./run\n"),
                ("go.mod", "")
            ]),
            ["make test", "go test ./..."]
        );
        assert!(commands(&[]).is_empty());
    }

    #[test]
    fn placeholders_and_lookalikes_are_not_test_commands() {
        let npm = r#"{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}"#;
        assert!(commands(&[("package.json", npm)]).is_empty());
        assert!(commands(&[("Makefile", "TEST:=1\ntests:\n\tx\n\ttest: y\n")]).is_empty());
        assert!(commands(&[("pyproject.toml", "[project]\nname = \"x\"\n")]).is_empty());
    }
}
