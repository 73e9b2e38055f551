//! Plain data for findings and fixes: byte ranges, edits, fixes, severities and related locations.

use serde::{Deserialize, Serialize};

use super::positions::Span;
use super::rules;

/// A half-open byte range into a document's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct TextRange {
    pub start: usize,
    pub end: usize,
}

impl TextRange {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    pub fn empty(at: usize) -> Self {
        Self { start: at, end: at }
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn contains_range(&self, other: TextRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    pub fn intersects(&self, other: TextRange) -> bool {
        self.start < other.end && other.start < self.end
            || self.is_empty() && other.contains_offset(self.start)
            || other.is_empty() && self.contains_offset(other.start)
    }

    pub fn contains_offset(&self, offset: usize) -> bool {
        self.start <= offset && offset <= self.end
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    Error,
    Warning,
    Information,
    Hint,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
            Severity::Hint => "hint",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "information" | "info" => Some(Severity::Information),
            "hint" => Some(Severity::Hint),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub range: TextRange,
    pub new_text: String,
}

impl Edit {
    pub fn replace(range: TextRange, new_text: impl Into<String>) -> Self {
        Self { range, new_text: new_text.into() }
    }

    pub fn insert(at: usize, new_text: impl Into<String>) -> Self {
        Self { range: TextRange::empty(at), new_text: new_text.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Applicability {
    /// Keeps the program's meaning; applied by `--fix` and fix-on-save.
    Safe,
    /// May change behaviour (timing, threads, exceptions); offered, applied only on request.
    Unsafe,
}

impl Applicability {
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::Safe => "safe",
            Applicability::Unsafe => "unsafe",
        }
    }
}

/// A rewrite. Its edits are sorted by position and never overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<Edit>,
    pub applicability: Applicability,
}

/// Another place that explains a finding, e.g. a hop in a transitive blocking chain, possibly in another file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Related {
    /// The file as the project index knows it (a path, as given to the summary).
    pub file: String,
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "StoredDiagnostic")]
pub struct Diagnostic {
    pub code: &'static str,
    pub name: &'static str,
    pub message: String,
    pub range: TextRange,
    pub severity: Severity,
    pub fixes: Vec<Fix>,
    pub related: Vec<Related>,
}

impl Diagnostic {
    /// The fix applied by `--fix` (safe) or by `--unsafe-fixes`: the first one offered.
    pub fn preferred_fix(&self) -> Option<&Fix> {
        self.fixes.first()
    }
}

/// A diagnostic as stored (by the check cache): its rule by code, looked up again when read back.
#[derive(Serialize, Deserialize)]
struct StoredDiagnostic {
    code: String,
    message: String,
    range: TextRange,
    severity: Severity,
    fixes: Vec<Fix>,
    related: Vec<Related>,
}

impl From<Diagnostic> for StoredDiagnostic {
    fn from(diagnostic: Diagnostic) -> Self {
        let Diagnostic { code, name: _, message, range, severity, fixes, related } = diagnostic;
        StoredDiagnostic { code: code.to_owned(), message, range, severity, fixes, related }
    }
}

// By hand: a derived impl would ask the input to outlive `'static`, for the `&'static str` fields.
impl<'de> Deserialize<'de> for Diagnostic {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredDiagnostic::deserialize(deserializer)?;
        let rule = rules::find(&stored.code)
            .ok_or_else(|| serde::de::Error::custom(format!("no rule has the code {}", stored.code)))?;
        let StoredDiagnostic { code: _, message, range, severity, fixes, related } = stored;
        Ok(Diagnostic { code: rule.code, name: rule.name, message, range, severity, fixes, related })
    }
}
