//! Where a module splits into units: the lines that start a top-level statement, found by a small scanner.
//!
//! A unit is a top-level statement with its decorators, and the blank and comment lines after it. Each unit is
//! parsed on its own (see `document`), so an edit re-parses only the unit it touches, and broken code cannot reshape
//! the rest of the file. On valid code the units' statements are exactly the whole file's.
//!
//! A line starts a unit when it begins at column 0 outside every bracket, string and backslash continuation, is not a
//! comment, does not continue a compound statement (`else`, `elif`, `except`, `finally`), and does not follow a unit
//! that so far holds only decorators. The scanner knows Python's strings: prefixes, triple quotes, escapes, and the
//! replacement fields of f-strings and t-strings with their nested strings and format specs.
//!
//! Broken code: a single-quoted string left open ends at its line's end, as Python's tokenizer says; and a `def` or
//! `class` at column 0 inside an unclosed bracket, which valid code never has, closes the brackets and starts a unit.
//!
//! The same scanner tells notebooks where IPython's magics can stand: [`claimed_lines`].

/// What the scanner is inside, innermost last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    String {
        quote: u8,
        triple: bool,
        formatted: bool,
    },
    /// `{...}` in an f-string or t-string, with its own bracket depth.
    Replacement {
        depth: usize,
    },
    /// After `:` in a replacement field: literal text, except nested `{...}`.
    FormatSpec,
}

/// The starts of the units after `from`, in order. `from` must itself start a unit (0 does).
pub struct SplitPoints<'a> {
    bytes: &'a [u8],
    position: usize,
    from: usize,
    contexts: Vec<Context>,
    /// Brackets open outside strings.
    depth: usize,
    /// The previous line ended with a backslash outside strings.
    continued: bool,
    /// The current unit so far holds only decorator lines: its `def` or `class` is still to come.
    decorators_only: bool,
}

pub fn split_points(text: &str, from: usize) -> SplitPoints<'_> {
    SplitPoints {
        bytes: text.as_bytes(),
        position: from,
        from,
        contexts: Vec::new(),
        depth: 0,
        continued: false,
        decorators_only: false,
    }
}

impl Iterator for SplitPoints<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.position < self.bytes.len() {
            let line_start = self.position;
            let starts_unit = self.classify_line(line_start);
            self.scan_line();
            if starts_unit {
                return Some(line_start);
            }
        }
        None
    }
}

/// The parts of lines that `claim` takes, among the lines that begin a logical line (outside brackets, strings and
/// backslash continuations, at any indentation). `claim` gets such a line without its line break and answers where in
/// it the claimed text starts. A claimed part runs to its line's end and on through the lines a trailing backslash
/// continues it onto, and is not scanned: a quote or a bracket in it does not carry over to the next line. Ranges
/// leave out line breaks; they are in order.
///
/// What notebooks need: an IPython magic (`%time f()`, `!ls`, `files = !ls`) is a logical line of another language.
pub fn claimed_lines(text: &str, mut claim: impl FnMut(&str) -> Option<usize>) -> Vec<std::ops::Range<usize>> {
    let mut scanner = split_points(text, 0);
    let bytes = text.as_bytes();
    // Where the line at `start` ends, before its line break.
    let line_end = |start: usize| {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |index| start + index);
        if end > start && bytes[end - 1] == b'\r' {
            end - 1
        } else {
            end
        }
    };
    let mut claimed = Vec::new();
    while scanner.position < bytes.len() {
        let start = scanner.position;
        let logical = scanner.contexts.is_empty() && !scanner.continued && scanner.depth == 0;
        let mut end = line_end(start);
        let claimed_at = if logical { claim(&text[start..end]) } else { None };
        match claimed_at {
            Some(offset) => {
                while bytes[..end].ends_with(b"\\") {
                    let Some(next) = memchr::memchr(b'\n', &bytes[end..]).map(|index| end + index + 1) else { break };
                    end = line_end(next);
                }
                claimed.push(start + offset.min(end - start)..end);
                scanner.position = memchr::memchr(b'\n', &bytes[end..]).map_or(bytes.len(), |index| end + index + 1);
            }
            None => scanner.scan_line(),
        }
    }
    claimed
}

fn is_identifier_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// Whether `line` begins with `keyword` as a whole word.
fn begins_with_keyword(line: &[u8], keyword: &[u8]) -> bool {
    line.starts_with(keyword) && line.get(keyword.len()).is_none_or(|&next| !is_identifier_byte(next))
}

/// `def`, `class` or `async def`: statements that valid code never has inside brackets.
fn starts_definition(line: &[u8]) -> bool {
    if begins_with_keyword(line, b"def") || begins_with_keyword(line, b"class") {
        return true;
    }
    let Some(rest) = line.strip_prefix(b"async") else { return false };
    let spaces = rest.iter().take_while(|&&byte| byte == b' ' || byte == b'\t').count();
    spaces > 0 && begins_with_keyword(&rest[spaces..], b"def")
}

impl SplitPoints<'_> {
    /// Decides whether the line at `start` begins a new unit, updating what the current unit holds.
    fn classify_line(&mut self, start: usize) -> bool {
        let line = &self.bytes[start..];
        let first = line[0];
        if !self.contexts.is_empty() || self.continued {
            return false;
        }
        if matches!(first, b' ' | b'\t' | b'\x0c' | b'\n' | b'\r' | b'#') {
            return false;
        }
        if self.depth > 0 {
            if !starts_definition(line) {
                return false;
            }
            self.depth = 0;
        }
        if ["else", "elif", "except", "finally"].iter().any(|keyword| begins_with_keyword(line, keyword.as_bytes())) {
            return false;
        }
        let starts_unit = start != self.from && !self.decorators_only;
        self.decorators_only = first == b'@';
        starts_unit
    }

    /// Scans one line, through its line break, updating the contexts, the bracket depth and the continuation.
    fn scan_line(&mut self) {
        let bytes = self.bytes;
        self.continued = false;
        while self.position < bytes.len() {
            let byte = bytes[self.position];
            match self.contexts.last().copied() {
                None => {
                    match byte {
                        b'\n' => {
                            self.position += 1;
                            return;
                        }
                        b'#' => self.skip_comment(),
                        b'(' | b'[' | b'{' => self.depth += 1,
                        b')' | b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                        b'\\' if self.at_line_break(self.position + 1) => self.continued = true,
                        b'"' | b'\'' => {
                            self.open_string(b"");
                            continue;
                        }
                        _ if is_identifier_byte(byte) => {
                            self.skip_identifier();
                            continue;
                        }
                        _ => {}
                    }
                    self.position += 1;
                }
                Some(Context::String { quote, triple, formatted }) => {
                    match byte {
                        b'\\' => {
                            // An escape, or a line continuation inside the string: skip what it escapes.
                            self.position += 1;
                            if bytes.get(self.position) == Some(&b'\r') && bytes.get(self.position + 1) == Some(&b'\n')
                            {
                                self.position += 1;
                            }
                            if bytes.get(self.position) == Some(&b'\n') {
                                self.position += 1;
                                return;
                            }
                        }
                        b'\n' => {
                            self.position += 1;
                            if !triple {
                                // Unterminated: Python's tokenizer ends it here, and so does the scanner.
                                self.contexts.clear();
                            }
                            return;
                        }
                        _ if byte == quote => {
                            if !triple {
                                self.contexts.pop();
                            } else if bytes[self.position..].starts_with(&[quote; 3]) {
                                self.contexts.pop();
                                self.position += 2;
                            }
                        }
                        b'{' if formatted => {
                            if bytes.get(self.position + 1) == Some(&b'{') {
                                self.position += 1;
                            } else {
                                self.contexts.push(Context::Replacement { depth: 0 });
                            }
                        }
                        b'}' if formatted && bytes.get(self.position + 1) == Some(&b'}') => self.position += 1,
                        _ => {}
                    }
                    self.position += 1;
                }
                Some(Context::Replacement { depth }) => {
                    let top = self.contexts.len() - 1;
                    match byte {
                        b'\n' => {
                            self.position += 1;
                            return;
                        }
                        b'(' | b'[' | b'{' => self.contexts[top] = Context::Replacement { depth: depth + 1 },
                        b')' | b']' => self.contexts[top] = Context::Replacement { depth: depth.saturating_sub(1) },
                        b'}' if depth == 0 => {
                            self.contexts.pop();
                        }
                        b'}' => self.contexts[top] = Context::Replacement { depth: depth - 1 },
                        b':' if depth == 0 => self.contexts[top] = Context::FormatSpec,
                        b'"' | b'\'' => {
                            self.open_string(b"");
                            continue;
                        }
                        _ if is_identifier_byte(byte) => {
                            self.skip_identifier();
                            continue;
                        }
                        _ => {}
                    }
                    self.position += 1;
                }
                Some(Context::FormatSpec) => {
                    match byte {
                        b'\n' => {
                            self.position += 1;
                            if self.innermost_string_is_single_quoted() {
                                self.contexts.clear();
                            }
                            return;
                        }
                        b'{' => self.contexts.push(Context::Replacement { depth: 0 }),
                        b'}' => {
                            // The end of the replacement field the spec belongs to.
                            self.contexts.pop();
                        }
                        _ => {}
                    }
                    self.position += 1;
                }
            }
        }
    }

    fn innermost_string_is_single_quoted(&self) -> bool {
        self.contexts.iter().rev().find_map(|context| match context {
            Context::String { triple, .. } => Some(!triple),
            _ => None,
        }) == Some(true)
    }

    fn at_line_break(&self, at: usize) -> bool {
        match self.bytes.get(at) {
            Some(b'\n') => true,
            Some(b'\r') => self.bytes.get(at + 1) == Some(&b'\n'),
            _ => false,
        }
    }

    /// Moves to the line break that ends the comment (not past it).
    fn skip_comment(&mut self) {
        let rest = &self.bytes[self.position..];
        // The caller steps over one byte: stop just before the line break.
        self.position += memchr::memchr(b'\n', rest).unwrap_or(rest.len()).saturating_sub(1);
    }

    /// Skips a name or number; when it is a string prefix directly followed by a quote, opens that string.
    fn skip_identifier(&mut self) {
        let start = self.position;
        while self.position < self.bytes.len() && is_identifier_byte(self.bytes[self.position]) {
            self.position += 1;
        }
        let word = &self.bytes[start..self.position];
        let prefix = word.len() <= 3 && word.iter().all(|byte| b"rRbBuUfFtT".contains(byte));
        if prefix && matches!(self.bytes.get(self.position), Some(b'"' | b'\'')) {
            self.open_string(word);
        }
    }

    /// Opens the string whose quote is at the current position, and moves past the quotes.
    fn open_string(&mut self, prefix: &[u8]) {
        let quote = self.bytes[self.position];
        let triple = self.bytes[self.position..].starts_with(&[quote; 3]);
        let formatted = prefix.iter().any(|byte| b"fFtT".contains(byte));
        self.contexts.push(Context::String { quote, triple, formatted });
        self.position += if triple { 3 } else { 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Vec<&str> {
        let mut starts: Vec<usize> = std::iter::once(0).chain(split_points(text, 0)).collect();
        starts.push(text.len());
        starts.windows(2).map(|pair| &text[pair[0]..pair[1]]).collect()
    }

    #[test]
    fn top_level_statements_split_with_their_decorators_and_trailing_comments() {
        let text = "import os\n\n@a\n# between\n@b(\n1)\ndef f():\n    x = 1\n# column 0 comment\n    y = 2\n\nclass C:\n    pass\n";
        assert_eq!(
            units(text),
            [
                "import os\n\n",
                "@a\n# between\n@b(\n1)\ndef f():\n    x = 1\n# column 0 comment\n    y = 2\n\n",
                "class C:\n    pass\n"
            ]
        );
    }

    #[test]
    fn compound_statements_keep_their_clauses() {
        let text =
            "try:\n    x\nexcept E:\n    y\nelse:\n    z\nfinally:\n    w\nif a:\n    b\nelif c:\n    d\nelse_ = 1\n";
        assert_eq!(
            units(text),
            [
                "try:\n    x\nexcept E:\n    y\nelse:\n    z\nfinally:\n    w\n",
                "if a:\n    b\nelif c:\n    d\n",
                "else_ = 1\n"
            ]
        );
    }

    #[test]
    fn brackets_strings_and_continuations_do_not_split() {
        let text = "x = [\n1,\n]\ns = \"\"\"\ndef not_a_unit():\n\"\"\"\ny = 1 + \\\n2\nb = rb'\\''\nz = 3\n";
        assert_eq!(
            units(text),
            [
                "x = [\n1,\n]\n",
                "s = \"\"\"\ndef not_a_unit():\n\"\"\"\n",
                "y = 1 + \\\n2\n",
                "b = rb'\\''\n",
                "z = 3\n"
            ]
        );
    }

    #[test]
    fn f_strings_nest_strings_and_format_specs() {
        let text = "a = f\"{x:#x} {'}'} {y!r:>{w}} {{ \"\nb = f'''\n{f\"{z}\"}\n'''\nc = 1\n";
        assert_eq!(units(text), ["a = f\"{x:#x} {'}'} {y!r:>{w}} {{ \"\n", "b = f'''\n{f\"{z}\"}\n'''\n", "c = 1\n"]);
    }

    #[test]
    fn broken_code_stays_local() {
        // An unterminated single-quoted string ends with its line; a definition inside an open bracket starts anew.
        let text = "a = 'open\nb = call(\ndef f():\n    pass\nasync def g():\n    pass\n";
        assert_eq!(units(text), ["a = 'open\n", "b = call(\n", "def f():\n    pass\n", "async def g():\n    pass\n"]);
    }

    #[test]
    fn claimed_lines_begin_logical_lines_and_hide_their_contents() {
        let text = "%time f()\nx = (a\n% b)\ns = \"\"\"\n%not\n\"\"\"\n    !echo \"(\\\n  more\nfiles = !ls\n%end";
        let claim = |line: &str| {
            let trimmed = line.trim_start();
            if trimmed.starts_with(['%', '!']) {
                return Some(line.len() - trimmed.len());
            }
            line.find("= !").map(|at| at + 2)
        };
        let claimed: Vec<&str> = claimed_lines(text, claim).into_iter().map(|range| &text[range]).collect();
        // Not `% b)` (inside brackets) nor `%not` (inside a string); the quote and bracket after `!echo` open nothing.
        assert_eq!(claimed, ["%time f()", "!echo \"(\\\n  more", "!ls", "%end"]);
    }

    #[test]
    fn scanning_from_a_unit_start_gives_the_same_later_splits() {
        let text = "import a\n\n@d\ndef f():\n    pass\nx = (\n1)\nclass C:\n    pass\n";
        let all: Vec<usize> = split_points(text, 0).collect();
        for &from in &all {
            let later: Vec<usize> = split_points(text, from).collect();
            assert_eq!(later, all.iter().copied().filter(|&start| start > from).collect::<Vec<_>>());
        }
    }
}
