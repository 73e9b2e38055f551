//! The floor under the other benches: what tree-sitter-python alone costs, with nothing of asynclint's analysis.
//! 1. Parsing every `.py` file of FOLDER (already read into memory), on one thread and on all cores, as `check` does.
//! 2. Re-parsing the 5,000-line module of the keystroke bench after a one-character edit, incrementally (with the old
//!    tree) and afresh: in the middle of a block, and at the end of the last line of a function, where the typing of
//!    the keystroke bench happens.
//!
//! Run: `cargo run --release --example parse_floor -- FOLDER`

#[path = "generated.rs"]
mod generated;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tree_sitter::{InputEdit, Parser, Point, Tree};

fn python_files(folder: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => python_files(&path, found),
            Ok(kind) if kind.is_file() && path.extension().is_some_and(|extension| extension == "py") => {
                found.push(path)
            }
            _ => {}
        }
    }
}

fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_python::LANGUAGE.into()).expect("the bundled grammar loads");
    parser
}

/// Seconds to parse every text on a pool of `threads` threads.
fn parse_all(texts: &[String], threads: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
    let started = Instant::now();
    let nodes: usize = pool.install(|| {
        texts
            .par_iter()
            .map_init(new_parser, |parser, text| {
                parser.parse(text, None).map_or(0, |tree| tree.root_node().descendant_count())
            })
            .sum()
    });
    assert!(nodes > 0, "the folder holds Python code");
    started.elapsed().as_secs_f64()
}

/// Where tree-sitter counts a byte offset: rows split at `\n`, columns in bytes.
fn point(text: &str, offset: usize) -> Point {
    let before = &text[..offset];
    let row = before.matches('\n').count();
    Point { row, column: offset - before.rfind('\n').map_or(0, |newline| newline + 1) }
}

/// Median times to re-parse after inserting one character at `offset` and deleting it again: incrementally, and
/// afresh.
fn reparse(source: &str, offset: usize, rounds: usize) -> (Duration, Duration) {
    let mut parser = new_parser();
    let mut text = source.to_owned();
    let mut tree: Tree = parser.parse(&text, None).expect("a tree");
    let (mut incremental, mut fresh) = (Vec::new(), Vec::new());
    for round in 0..rounds * 2 {
        let inserting = round % 2 == 0;
        let (old_end, new_end) = if inserting { (offset, offset + 1) } else { (offset + 1, offset) };
        let (start_position, old_end_position) = (point(&text, offset), point(&text, old_end));
        if inserting {
            text.insert(offset, 'x');
        } else {
            text.remove(offset);
        }
        tree.edit(&InputEdit {
            start_byte: offset,
            old_end_byte: old_end,
            new_end_byte: new_end,
            start_position,
            old_end_position,
            new_end_position: point(&text, new_end),
        });
        let started = Instant::now();
        tree = parser.parse(&text, Some(&tree)).expect("a tree");
        incremental.push(started.elapsed());
        let started = Instant::now();
        std::hint::black_box(parser.parse(&text, None));
        fresh.push(started.elapsed());
    }
    incremental.sort();
    fresh.sort();
    (incremental[incremental.len() / 2], fresh[fresh.len() / 2])
}

fn main() {
    let folder = std::env::args().nth(1).expect("usage: parse_floor FOLDER");
    // A first document gives tree-sitter the allocator asynclint gives it, so that the floor is measured as paid.
    drop(asynclint::core::Document::new("warm-up.py", "pass\n"));
    let mut paths = Vec::new();
    python_files(Path::new(&folder), &mut paths);
    let texts: Vec<String> = paths.iter().filter_map(|path| std::fs::read_to_string(path).ok()).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let one = parse_all(&texts, 1);
    let all = parse_all(&texts, cores);
    println!(
        "parse only, {} files, {:.1} MB: {one:.2} s on 1 thread ({:.1} MB/s), {all:.2} s on {cores}",
        texts.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / one
    );

    let source = generated::module(5000);
    let middle = source.len() / 2;
    let in_block = middle + source[middle..].find("    result = requests.get(url)").expect("a handler") + 10;
    let block_end_line = "    return response, result\n";
    let block_end = middle + source[middle..].find(block_end_line).expect("a handler") + block_end_line.len() - 1;
    for (place, offset) in [("in the middle of a block", in_block), ("at the end of a block", block_end)] {
        let (incremental, fresh) = reparse(&source, offset, 200);
        println!(
            "re-parse of the {}-line module after a keystroke {place}: {:.2} ms incremental, {:.2} ms afresh (medians)",
            source.lines().count(),
            incremental.as_secs_f64() * 1000.0,
            fresh.as_secs_f64() * 1000.0
        );
    }
}
