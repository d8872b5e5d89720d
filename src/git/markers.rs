//! Conflict markers: the built-in check that holds with or without a `[gate]`.
//!
//! A resolution must not leave `<<<<<<<`, `=======`, `|||||||` or `>>>>>>>` lines in the paths
//! of its conflict (git's `diff --check` rule: seven marker characters, then a space or the
//! end of the line; `=======` alone). Only markers the resolution *added* count: a marker-like
//! line that either side already had (a reStructuredText rule, a test fixture) is left alone.
//! `doctor` scans the target's tip for whole conflict blocks. Reads objects only; never writes.

use std::collections::BTreeMap;

use super::{GitError, ObjectId, Repo};

/// Blobs larger than this are not scanned (they are not hand-merged text).
const MAX_SCAN: usize = 4 * 1024 * 1024;

/// Whether `line` is a conflict marker line.
pub fn is_marker(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line == b"=======" {
        return true;
    }
    let Some(&c) = line.first() else { return false };
    if !matches!(c, b'<' | b'>' | b'|') || line.len() < 7 || line[..7].iter().any(|&b| b != c) {
        return false;
    }
    line.get(7).is_none_or(|&b| b == b' ' || b == b'\t')
}

fn is_binary(data: &[u8]) -> bool {
    data.iter().take(8000).any(|&b| b == 0)
}

/// Marker lines of `text`, counted by content.
fn marker_counts(text: &[u8]) -> BTreeMap<&[u8], usize> {
    let mut m = BTreeMap::new();
    for line in text.split(|&b| b == b'\n').filter(|l| is_marker(l)) {
        *m.entry(line).or_default() += 1;
    }
    m
}

/// 1-based lines of `resolved` holding markers that neither `ours` nor `theirs` had (counted
/// line by line: a marker line present twice where a side had it once is one too many).
pub fn added_markers(resolved: &[u8], ours: Option<&[u8]>, theirs: Option<&[u8]>) -> Vec<usize> {
    if is_binary(resolved) || resolved.len() > MAX_SCAN {
        return Vec::new();
    }
    let ours = ours.map(marker_counts).unwrap_or_default();
    let theirs = theirs.map(marker_counts).unwrap_or_default();
    let mut seen: BTreeMap<&[u8], usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, line) in resolved.split(|&b| b == b'\n').enumerate() {
        if !is_marker(line) {
            continue;
        }
        let n = seen.entry(line).or_default();
        *n += 1;
        let allowed = ours
            .get(line)
            .copied()
            .unwrap_or(0)
            .max(theirs.get(line).copied().unwrap_or(0));
        if *n > allowed {
            out.push(i + 1);
        }
    }
    out
}

/// The first line of a whole conflict block (`<<<<<<<` … `=======` … `>>>>>>>`) in `text`.
pub fn conflict_block(text: &[u8]) -> Option<usize> {
    if is_binary(text) || text.len() > MAX_SCAN {
        return None;
    }
    let mut open: Option<(usize, bool)> = None;
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if !is_marker(line) {
            continue;
        }
        match (line[0], open) {
            (b'<', _) => open = Some((i + 1, false)),
            (b'=', Some((start, _))) => open = Some((start, true)),
            (b'>', Some((start, true))) => return Some(start),
            _ => {}
        }
    }
    None
}

/// Markers a conflict resolution added: for each of `paths`, the lines of its blob at
/// `resolved` with markers that neither `ours` (the branch before the merge) nor `theirs`
/// (the target that was merged in) had. `(path, line)` pairs, in path order.
pub fn resolution_markers(
    repo: &Repo,
    ours: ObjectId,
    theirs: ObjectId,
    resolved: ObjectId,
    paths: &[String],
) -> Result<Vec<(String, usize)>, GitError> {
    let trees = (
        repo.commit_tree(ours)?,
        repo.commit_tree(theirs)?,
        repo.commit_tree(resolved)?,
    );
    let blob = |tree: ObjectId, path: &str| -> Result<Option<Vec<u8>>, GitError> {
        repo.lookup_path(tree, path)?
            .map(|id| repo.read_blob(id))
            .transpose()
    };
    let mut out = Vec::new();
    for path in paths {
        let Some(text) = blob(trees.2, path)? else {
            continue;
        };
        let a = blob(trees.0, path)?;
        let b = blob(trees.1, path)?;
        for line in added_markers(&text, a.as_deref(), b.as_deref()) {
            out.push((path.clone(), line));
        }
    }
    Ok(out)
}

/// Files of `commit`'s tree holding a whole conflict block, with the block's first line.
pub fn scan_commit(repo: &Repo, commit: ObjectId) -> Result<Vec<(String, usize)>, GitError> {
    let tree = repo.commit_tree(commit)?;
    let mut out = Vec::new();
    for (path, id) in repo.list_blobs_recursive(tree)? {
        let data = repo.read_blob(id)?;
        if let Some(line) = conflict_block(&data) {
            out.push((path, line));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_lines_follow_git_diff_check() {
        for yes in [
            &b"<<<<<<< HEAD"[..],
            b">>>>>>> main",
            b"=======",
            b"||||||| base",
            b"<<<<<<<",
            b"=======\r",
        ] {
            assert!(is_marker(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"<<<<<<<< eight"[..],
            b"======== ",
            b"==========",
            b"<<<<<< six",
            b" <<<<<<< indented",
            b"a <<<<<<< b",
        ] {
            assert!(!is_marker(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn only_markers_the_resolution_added_count() {
        let ours = b"Title\n=======\ntext\n";
        let theirs = b"Title\n=======\nother\n";
        let clean = b"Title\n=======\ntext\nother\n";
        assert!(added_markers(clean, Some(ours), Some(theirs)).is_empty());
        let left = b"Title\n=======\n<<<<<<< target\ntext\n=======\nother\n>>>>>>> worker\n";
        assert_eq!(added_markers(left, Some(ours), Some(theirs)), vec![3, 5, 7]);
        assert_eq!(
            added_markers(b"\0<<<<<<< x\n", None, None),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn doctor_finds_whole_blocks_only() {
        assert_eq!(
            conflict_block(b"a\n<<<<<<< x\nb\n=======\nc\n>>>>>>> y\n"),
            Some(2)
        );
        assert_eq!(conflict_block(b"Title\n=======\n"), None);
        assert_eq!(conflict_block(b">>>>>>> quoted\n<<<<<<< reply\n"), None);
    }
}
