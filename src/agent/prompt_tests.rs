//! Include expansion (relative to the including file, nested, missing, cycles), rendering and
//! the bundled prompts.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, text).expect("write");
}

#[test]
fn includes_resolve_against_the_including_file_and_nest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(
        &root.join("prompts/main.md"),
        "top\n#oompa_directive:include_file \"parts/a.md\"\nend\n",
    );
    write(
        &root.join("prompts/parts/a.md"),
        "A1\n  #oompa_directive:include_file   \"../shared/b.md\"  \nA2",
    );
    write(&root.join("prompts/shared/b.md"), "B\n");
    // A file with the same relative name next to the cwd must not be picked up.
    write(&root.join("parts/a.md"), "WRONG\n");
    let text = load_file(&root.join("prompts/main.md")).expect("load");
    assert_eq!(text, "top\nA1\nB\nA2\nend\n");
}

#[test]
fn absolute_includes_and_diamonds_work() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let shared = tmp.path().join("elsewhere/rules.md");
    write(&shared, "RULES\n");
    let main = tmp.path().join("p/main.md");
    let line = format!("#oompa_directive:include_file \"{}\"\n", shared.display());
    write(&main, &format!("{line}{line}"));
    assert_eq!(load_file(&main).expect("load"), "RULES\nRULES\n");
}

#[test]
fn missing_and_cyclic_includes_become_notices() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = tmp.path().join("a.md");
    write(
        &a,
        "a\n#oompa_directive:include_file \"b.md\"\n#oompa_directive:include_file \"nope.md\"\n",
    );
    write(
        &tmp.path().join("b.md"),
        "b\n#oompa_directive:include_file \"a.md\"\n#oompa_directive:include_file \"b.md\"\n",
    );
    let text = load_file(&a).expect("load");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "a");
    assert_eq!(lines[1], "b");
    assert_eq!(
        lines[2],
        "[oompa] could not include \"a.md\": include cycle"
    );
    assert_eq!(
        lines[3],
        "[oompa] could not include \"b.md\": include cycle"
    );
    assert!(
        lines[4].starts_with("[oompa] could not include \"nope.md\": "),
        "{}",
        lines[4]
    );
    assert_eq!(lines.len(), 5);
}

#[test]
fn directive_lookalikes_are_left_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("f.md");
    let text = "#oompa_directive:include_file\"x.md\"\n#oompa_directive:include_file x.md\nsee #oompa_directive:include_file \"x.md\"\n#oompa_directive:include_file \"\"\n";
    write(&f, text);
    let out = load_file(&f).expect("load");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], text.lines().take(3).collect::<Vec<_>>()[..]);
    assert_eq!(lines[3], "[oompa] could not include \"\": empty path");
}

#[test]
fn load_file_reports_the_missing_top_level_file() {
    let err = load_file(Path::new("/definitely/not/here.md")).expect_err("missing");
    assert!(err.to_string().contains("/definitely/not/here.md"));
}

#[test]
fn render_replaces_known_tokens_only() {
    let v = vars(&[("worker", "w1"), ("queue", "- t1 {worker}"), ("a.b", "dot")]);
    assert_eq!(render("{{worker}} and {worker}", &v), "w1 and w1");
    assert_eq!(
        render("{{unknown}} {unknown} {", &v),
        "{{unknown}} {unknown} {"
    );
    assert_eq!(
        render("q: {{queue}}", &v),
        "q: - t1 {worker}",
        "values are not re-expanded"
    );
    assert_eq!(render("{{{worker}}}", &v), "{w1}");
    assert_eq!(
        render("json {\"worker\": 1} {a.b}", &v),
        "json {\"worker\": 1} dot"
    );
    assert_eq!(render("{{ worker }} {{worker}", &v), "{{ worker }} {w1");
    assert_eq!(render("é{worker}ü", &v), "éw1ü");
}

#[test]
fn every_bundled_prompt_exists_and_is_not_empty() {
    for b in Bundled::ALL {
        let (name, text) = (b.name(), b.text());
        assert!(text.trim().len() > 20, "{name} is empty");
        assert!(
            !text.contains("#oompa_directive"),
            "{name}: bundled prompts cannot include files"
        );
    }
}

#[test]
fn bundled_prompts_use_their_documented_tokens() {
    let has = |b: Bundled, tokens: &[&str]| {
        let (name, text) = (b.name(), b.text());
        for t in tokens {
            assert!(
                text.contains(&format!("{{{{{t}}}}}")),
                "{name} lacks {{{{{t}}}}}"
            );
        }
    };
    has(
        Bundled::TaskHeader,
        &["swarm", "worker", "cycle", "target", "queue"],
    );
    has(Bundled::Resolver, &["paths", "ours", "theirs"]);
    has(Bundled::ClaimResults, &["claimed", "failed", "queue"]);
    has(Bundled::ReviewFix, &["findings"]);
    let header = Bundled::TaskHeader.text();
    for needle in [
        "CLAIM(",
        "COMPLETE_AND_READY_FOR_MERGE",
        "__DONE__",
        "git oompa task claim",
        crate::store::QUEUE_REF,
    ] {
        assert!(header.contains(needle), "task header lacks {needle}");
    }
    let reviewer = Bundled::Reviewer.text();
    assert!(reviewer.contains("VERDICT: APPROVED") && reviewer.contains("VERDICT: NEEDS_CHANGES"));
}

/// The parser counts a signal only alone on the last line; no prompt may promise less.
#[test]
fn prompts_state_the_signal_rule_the_parser_applies() {
    let header = Bundled::TaskHeader.text();
    assert!(header.contains("alone on the last line"), "{header}");
    assert!(header.contains("followed by more text"), "{header}");
    for b in Bundled::ALL {
        let (name, text) = (b.name(), b.text());
        if matches!(b, Bundled::Reviewer | Bundled::GateFix) {
            continue;
        }
        assert!(
            !text.contains("on a line of its own"),
            "{name} describes the old signal rule"
        );
    }
}

#[test]
fn a_role_without_prompt_files_gets_its_bundled_prompt() {
    assert_eq!(
        role(&[], Bundled::Reviewer).expect("bundled"),
        Bundled::Reviewer.text()
    );
}

#[test]
fn a_role_prompt_is_its_files_in_order_each_followed_by_a_blank_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a.md"), tmp.path().join("b.md"));
    write(&a, "first");
    write(&b, "second\n");
    assert_eq!(
        role(&[a, b], Bundled::Worker).expect("readable"),
        "first\n\nsecond\n\n\n"
    );
}

#[test]
fn an_unreadable_role_prompt_file_is_an_error_naming_it_not_a_prompt_with_a_hole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let good = tmp.path().join("good.md");
    let bad = tmp.path().join("not-utf8.md");
    write(&good, "fine");
    fs::write(&bad, b"\xff\xfe prompt").expect("write");
    let err = role(&[good, bad.clone()], Bundled::Worker).expect_err("unreadable");
    let text = err.to_string();
    assert!(text.contains(&bad.display().to_string()), "{text}");
    assert!(text.contains("UTF-8"), "says why: {text}");
    let missing = tmp.path().join("gone.md");
    let text = role(std::slice::from_ref(&missing), Bundled::Planner)
        .expect_err("missing")
        .to_string();
    assert!(text.contains(&missing.display().to_string()), "{text}");
}
