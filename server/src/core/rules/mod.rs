//! The rule registry: every rule's code, name, default severity and doc, and the selector syntax users name them by.

pub mod asyncio_run_in_notebook;
pub mod await_in_loop;
pub mod blocking;
pub mod coroutine_never_yields;
pub mod dangling_task;
pub mod root_exits_with_pending_tasks;
pub mod sequential_awaits;
pub mod task_never_awaited;
pub mod transitive_blocking;
pub mod unawaited_coroutine;

use super::diagnostic::Severity;

#[derive(Debug)]
pub struct RuleMeta {
    pub code: &'static str,
    pub name: &'static str,
    /// One line, for tables and `--statistics`.
    pub summary: &'static str,
    /// Markdown under the fixed headings: What it does / Why is this bad / Example / Use instead / Fix safety.
    pub doc: &'static str,
    pub default_severity: Severity,
    /// Whether catalogue entries may name this rule (the direct blocking-call rules).
    pub catalogue_driven: bool,
    /// The codes other linters give the same check (ruff, flake8-async): accepted in `# noqa`.
    pub equivalents: &'static [&'static str],
}

impl RuleMeta {
    /// Whether a code written in a `# noqa` (or a selector) names this rule: its code (any case), its name, or the code
    /// another linter gives the same check.
    pub fn is_named_by(&self, written: &str) -> bool {
        written.eq_ignore_ascii_case(self.code)
            || written == self.name
            || self.equivalents.iter().any(|equivalent| written.eq_ignore_ascii_case(equivalent))
    }

    /// The rule explained in markdown, as `asynclint rule CODE` prints it and the editor's hover shows it: name and
    /// code, summary, the doc, and the other linters' codes for the same check.
    pub fn explanation(&self) -> String {
        let mut text = format!("# {} ({})\n\n{}\n\n{}\n", self.name, self.code, self.summary, self.doc.trim_end());
        if !self.equivalents.is_empty() {
            let codes = self.equivalents.join(", ");
            text.push_str(&format!(
                "\n## Other linters\nThe same check elsewhere: {codes}. `# noqa` with these codes suppresses it too.\n"
            ));
        }
        text
    }
}

pub const ALL: &[&RuleMeta] = &[
    &blocking::sleep::RULE,
    &blocking::http::RULE,
    &blocking::subprocess::RULE,
    &blocking::file_io::RULE,
    &blocking::socket::RULE,
    &blocking::db::RULE,
    &blocking::input::RULE,
    &blocking::nested_event_loop::RULE,
    &blocking::cpu_heavy::RULE,
    &transitive_blocking::RULE,
    &coroutine_never_yields::RULE,
    &asyncio_run_in_notebook::RULE,
    &dangling_task::RULE,
    &task_never_awaited::RULE,
    &root_exits_with_pending_tasks::RULE,
    &unawaited_coroutine::RULE,
    &sequential_awaits::RULE,
    &await_in_loop::RULE,
];

/// A rule by code (`AL101`, any case) or kebab-case name (`blocking-sleep`).
pub fn find(code_or_name: &str) -> Option<&'static RuleMeta> {
    ALL.iter().copied().find(|rule| rule.code.eq_ignore_ascii_case(code_or_name) || rule.name == code_or_name)
}

/// The rules a selector names: `ALL`, a code, a code prefix (`AL1`), or a name. Empty when it names none.
pub fn select(selector: &str) -> Vec<&'static RuleMeta> {
    if selector.eq_ignore_ascii_case("ALL") {
        return ALL.to_vec();
    }
    if let Some(rule) = find(selector) {
        return vec![rule];
    }
    let upper = selector.to_ascii_uppercase();
    if upper.starts_with("AL") {
        return ALL.iter().copied().filter(|rule| rule.code.starts_with(&upper)).collect();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_docs_have_the_fixed_headings() {
        let mut seen = std::collections::HashSet::new();
        for rule in ALL {
            assert!(seen.insert(rule.code), "duplicate code {}", rule.code);
            assert!(seen.insert(rule.name), "duplicate name {}", rule.name);
            let mut at = 0;
            for heading in ["## What it does", "## Why is this bad", "## Example", "## Use instead", "## Fix safety"] {
                let found =
                    rule.doc[at..].find(heading).unwrap_or_else(|| panic!("{}: `{heading}` missing", rule.code));
                at += found + heading.len();
            }
        }
    }

    #[test]
    fn selectors_take_codes_prefixes_and_names() {
        assert_eq!(select("AL101").len(), 1);
        assert_eq!(select("blocking-http")[0].code, "AL102");
        assert_eq!(select("AL1").len(), 12);
        assert_eq!(select("AL2").len(), 4);
        assert_eq!(select("AL3").len(), 2);
        assert_eq!(select("ALL").len(), ALL.len());
        assert!(select("E501").is_empty());
        assert!(select("AL9").is_empty());
    }
}
