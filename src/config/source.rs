//! The config file being read ([`Ctx`]): its path, its text, and the located errors (line,
//! column) both the document layer ([`super::doc`]) and the typed getters ([`super::read`])
//! report against it. Its own module so neither of those two needs the other for it.

use std::path::{Path, PathBuf};

use super::{ConfigError, ValueProblem};

/// The file being read: its path (for messages and relative prompt paths) and its text.
pub(super) struct Ctx<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    /// Directory prompt paths are relative to.
    pub base_dir: PathBuf,
    /// Whether to check that prompt files exist.
    pub check_files: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(path: &'a Path, text: &'a str, check_files: bool) -> Self {
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ctx {
            path,
            text,
            base_dir,
            check_files,
        }
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn column(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        let line_start = self.text.as_bytes()[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |nl| nl + 1);
        self.text
            .get(line_start..end)
            .map_or(end - line_start, |s| s.chars().count())
            + 1
    }

    pub fn syntax_error(&self, offset: usize, message: String) -> ConfigError {
        ConfigError::Syntax {
            path: self.path.to_path_buf(),
            line: self.line(offset),
            column: self.column(offset),
            message,
        }
    }

    pub fn invalid(&self, offset: usize, key: &str, problem: ValueProblem) -> ConfigError {
        ConfigError::InvalidValue {
            path: self.path.to_path_buf(),
            line: self.line(offset),
            key: key.to_string(),
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let ctx = Ctx::new(Path::new("x.toml"), "ab\ncdé\n\nf", false);
        assert_eq!(ctx.line(0), 1);
        assert_eq!(ctx.line(3), 2);
        assert_eq!(ctx.line(9), 4);
        assert_eq!(ctx.column(7), 4);
        assert_eq!(ctx.line(1000), 4);
    }
}
