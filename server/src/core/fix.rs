//! Building and applying fixes: the `await` rewrites, `import asyncio` insertion, and applying edits with a re-parse
//! check so that no fix ever produces broken Python.

use crate::core::syntax::KindName;
use tree_sitter::Node;

use super::diagnostic::{Applicability, Edit, Fix, TextRange};
use super::document::Document;
use super::semantic::{CallSite, EventLoop, SemanticModel};
use super::settings::Settings;
use super::syntax;

/// Parents under which `await <call>` needs no parentheses.
const BARE_AWAIT_PARENTS: &[&str] = &[
    "expression_statement",
    "assignment",
    "augmented_assignment",
    "return_statement",
    "argument_list",
    "keyword_argument",
    "parenthesized_expression",
    "expression_list",
    "list",
    "tuple",
    "set",
    "pair",
];

/// Whether an `await` may be put in front of this call: directly in an `async def` (or at a notebook cell's top
/// level, which IPython runs in its event loop), not inside a generator expression, and not touching broken syntax.
pub fn can_await(model: &SemanticModel, call: &CallSite) -> bool {
    (model.in_async_function(call) || model.at_awaitable_top_level(call))
        && !call.in_generator
        && !call.awaited
        && !syntax::touches_error(call.node)
}

/// `await <expression>`, parenthesised when the call's position needs it (`open(p).read()` →
/// `(await ...).read()`).
fn awaited(call: Node, expression: String) -> String {
    let bare = call.parent().is_some_and(|parent| {
        BARE_AWAIT_PARENTS.contains(&parent.kind_name())
            && !(parent.kind_name() == "assignment" && parent.child_by_field_id(syntax::fields().right) != Some(call))
    });
    if bare {
        format!("await {expression}")
    } else {
        format!("(await {expression})")
    }
}

/// The call's argument list with `first` put before the others, in the call's own layout: `(first, a, b)` on one
/// line (without a trailing comma left dangling), or, for arguments laid out one per line, `first,` on a line of its
/// own with the same indentation.
fn prepended_arguments(model: &SemanticModel, call: Node, first: &str) -> Option<String> {
    let arguments = call.child_by_field_id(syntax::fields().arguments)?;
    if arguments.kind_name() != "argument_list" {
        return None;
    }
    let text = model.text(arguments);
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let content = inner.trim();
    if content.is_empty() {
        return Some(format!("({first})"));
    }
    if inner.contains('\n') {
        // `(\n    a,\n    b,\n)`: the new argument gets a line of its own before the first, with its indentation, and
        // the rest (comments, trailing comma, closing line) stays as written.
        let first_argument = syntax::named_children(arguments).find(|argument| argument.kind_name() != "comment")?;
        let split = first_argument.start_byte() - arguments.start_byte();
        let (before, after) = text.split_at(split);
        // Only when the first argument starts a line: otherwise (`f(a,\n  b)`) there is no layout to follow.
        if let Some((_, indent)) =
            before.rsplit_once('\n').filter(|(_, indent)| indent.chars().all(char::is_whitespace))
        {
            return Some(format!("{before}{first},\n{indent}{after}"));
        }
    }
    let content = content.strip_suffix(',').map(str::trim_end).unwrap_or(content);
    Some(format!("({first}, {content})"))
}

/// The local name of module `module` and, when it is not imported at module level, the edit that imports it.
pub fn module_reference(document: &Document, model: &SemanticModel, module: &str) -> (String, Option<Edit>) {
    let mut cache = model.import_edits.borrow_mut();
    let edit = cache.entry(module.to_owned()).or_insert_with(|| match model.module_alias(module) {
        Some(_) => None,
        None => Some(import_edit(document, module)),
    });
    match edit {
        Some(edit) => (module.to_owned(), Some(edit.clone())),
        None => (model.module_alias(module).unwrap_or(module).to_owned(), None),
    }
}

/// `import <module>` placed after the module docstring and any `from __future__` imports, or before the first
/// statement (so after a shebang and encoding comments).
pub fn import_edit(document: &Document, module: &str) -> Edit {
    let text = document.text();
    let newline = newline_of(text);
    let mut after: Option<usize> = None;
    let mut first_statement: Option<usize> = None;
    for (position, child) in document.top_level_nodes().filter(|child| child.kind_name() != "comment").enumerate() {
        first_statement.get_or_insert(child.start_byte());
        let is_docstring = position == 0
            && child.kind_name() == "expression_statement"
            && child
                .named_child(0)
                .is_some_and(|value| value.kind_name() == "string" || value.kind_name() == "concatenated_string");
        let is_future = child.kind_name() == "future_import_statement"
            || (child.kind_name() == "import_from_statement" && syntax::text(child, text).contains("__future__"));
        if is_docstring || is_future {
            after = Some(child.end_byte());
        } else {
            break;
        }
    }
    let statement = format!("import {module}{newline}");
    match after {
        Some(end) => match memchr::memchr(b'\n', &text.as_bytes()[end..]) {
            Some(line_break) => Edit::insert(end + line_break + 1, statement),
            None => Edit::insert(text.len(), format!("{newline}import {module}{newline}")),
        },
        None => Edit::insert(first_statement.unwrap_or(text.len()), statement),
    }
}

/// A catalogue replacement in the module's own library: `asyncio.sleep` is `trio.sleep` in a trio program and
/// `anyio.sleep` under anyio (both take the same arguments).
pub fn library_form(model: &SemanticModel, replacement: &str) -> String {
    match (model.event_loop(), replacement.strip_prefix("asyncio.")) {
        (EventLoop::Asyncio, _) | (_, None) => replacement.to_owned(),
        (library, Some(function)) => format!("{}.{function}", library.module()),
    }
}

/// asyncio's API named in the catalogue's advice, and the same thing in trio and anyio.
const LIBRARY_EQUIVALENTS: &[(&str, &str, &str)] = &[
    ("`asyncio.to_thread`", "`trio.to_thread.run_sync`", "`anyio.to_thread.run_sync`"),
    ("`aiofiles.open`", "`trio.open_file`", "`anyio.open_file`"),
    ("`asyncio.create_subprocess_exec`", "`trio.run_process`", "`anyio.run_process`"),
    ("`asyncio.create_subprocess_shell`", "`trio.run_process`", "`anyio.run_process`"),
];

/// A catalogue advice in the module's own library: `asyncio.to_thread` is `trio.to_thread.run_sync` in a trio
/// program.
pub fn library_advice(model: &SemanticModel, advice: &str) -> String {
    let library = model.event_loop();
    LIBRARY_EQUIVALENTS.iter().fold(advice.to_owned(), |text, (asyncio, trio, anyio)| match library {
        EventLoop::Asyncio => text,
        EventLoop::Trio => text.replace(asyncio, trio),
        EventLoop::Anyio => text.replace(asyncio, anyio),
    })
}

/// Replaces `time.sleep(x)` by `await asyncio.sleep(x)`: the replacement takes the same arguments.
pub fn drop_in_fix(
    document: &Document,
    model: &SemanticModel,
    call: &CallSite,
    replacement: &str,
    applicability: Applicability,
) -> Option<Fix> {
    if !can_await(model, call) {
        return None;
    }
    let arguments = model.text(call.node.child_by_field_id(syntax::fields().arguments)?);
    let replacement = &library_form(model, replacement);
    let (module, function) = replacement.rsplit_once('.')?;
    let (alias, import) = module_reference(document, model, module);
    let new_call = awaited(call.node, format!("{alias}.{function}{arguments}"));
    Some(fix(
        format!("Replace with `await {replacement}(...)`"),
        import,
        syntax::range(call.node),
        new_call,
        applicability,
    ))
}

/// Runs the call in a worker thread: with the project's own helper from `offload-functions` when one is in scope
/// (`await hass.async_add_executor_job(f, *args)`), else `await asyncio.to_thread(f, *args, **kwargs)`, or
/// `await asyncio.get_running_loop().run_in_executor(None, f, *args)` for targets before Python 3.9. Only
/// `to_thread` passes keyword arguments, so calls with them get no fix where it is missing.
pub fn offload_fix(document: &Document, model: &SemanticModel, call: &CallSite, settings: &Settings) -> Option<Fix> {
    if !can_await(model, call) || is_with_item_value(call.node) {
        return None;
    }
    let function = model.text(call.node.child_by_field_id(syntax::fields().function)?);
    let arguments = prepended_arguments(model, call.node, function)?;
    let arguments_node = call.node.child_by_field_id(syntax::fields().arguments)?;
    let has_keywords = syntax::named_children(arguments_node)
        .any(|argument| matches!(argument.kind_name(), "keyword_argument" | "dictionary_splat"));
    let project_helper = settings.offload_functions.iter().find(|helper| {
        let first_name = helper.split('.').next().unwrap_or_default();
        model.is_bound(call.scope, first_name)
    });
    if let (Some(helper), false) = (project_helper, has_keywords) {
        let new_call = awaited(call.node, format!("{helper}{arguments}"));
        let title = format!("Run it in a worker thread with `{helper}`");
        return Some(fix(title, None, syntax::range(call.node), new_call, Applicability::Unsafe));
    }
    // trio and anyio run a function in a thread with `to_thread.run_sync`, which takes positional arguments only.
    if let library @ (EventLoop::Trio | EventLoop::Anyio) = model.event_loop() {
        if has_keywords {
            return None;
        }
        let (alias, import) = module_reference(document, model, library.module());
        let new_call = awaited(call.node, format!("{alias}.to_thread.run_sync{arguments}"));
        let title = format!("Run it in a worker thread with `{}.to_thread.run_sync`", library.module());
        return Some(fix(title, import, syntax::range(call.node), new_call, Applicability::Unsafe));
    }
    let (alias, import) = module_reference(document, model, "asyncio");
    let (title, expression) = if settings.target_version >= (3, 9) {
        ("Run it in a worker thread with `asyncio.to_thread`", format!("{alias}.to_thread{arguments}"))
    } else {
        if has_keywords {
            return None;
        }
        (
            "Run it in the default executor with `run_in_executor`",
            format!(
                "{alias}.get_running_loop().run_in_executor{}",
                prepended_arguments(model, call.node, &format!("None, {function}"))?
            ),
        )
    };
    let new_call = awaited(call.node, expression);
    Some(fix(title.to_owned(), import, syntax::range(call.node), new_call, Applicability::Unsafe))
}

/// `asyncio.run(main())` inside a coroutine (or at a notebook cell's top level) → `await main()`.
pub fn await_argument_fix(model: &SemanticModel, call: &CallSite, applicability: Applicability) -> Option<Fix> {
    if !can_await(model, call) {
        return None;
    }
    let arguments = call.node.child_by_field_id(syntax::fields().arguments)?;
    let mut named = syntax::named_children(arguments).filter(|child| child.kind_name() != "comment");
    let (Some(only), None) = (named.next(), named.next()) else {
        return None;
    };
    if matches!(only.kind_name(), "keyword_argument" | "list_splat" | "dictionary_splat") {
        return None;
    }
    let new_call = awaited(call.node, model.text(only).to_owned());
    Some(fix("Await the coroutine instead".to_owned(), None, syntax::range(call.node), new_call, applicability))
}

/// `fetch()` → `await fetch()`, for a call standing alone or on the right of an assignment.
pub fn insert_await_fix(model: &SemanticModel, call: &CallSite, applicability: Applicability) -> Option<Fix> {
    if !can_await(model, call) {
        return None;
    }
    let edit = Edit::insert(call.node.start_byte(), "await ");
    Some(Fix { title: "Add `await`".to_owned(), edits: vec![edit], applicability })
}

/// The whitespace before a node on its line, when nothing else stands there (the node starts its line).
fn line_indent<'s>(text: &'s str, node: Node) -> Option<&'s str> {
    let start = node.start_byte();
    let line_start = text[..start].rfind(['\n', '\r']).map_or(0, |index| index + 1);
    let indent = &text[line_start..start];
    indent.chars().all(|c| c == ' ' || c == '\t').then_some(indent)
}

/// The file's line ending, as its first line ends (what editors do too): cheap, unlike scanning the whole text.
fn newline_of(text: &str) -> &'static str {
    match memchr::memchr(b'\n', text.as_bytes()) {
        Some(index) if index > 0 && text.as_bytes()[index - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// Edits that insert `await <name>` before every `return` of the function after byte `after`, and at the end of its
/// body when the body can fall off the end. `None` when a `return` shares its line with other code, when the body
/// does not start its own line, or when the last statement is not simple to follow.
pub fn await_before_exits(document: &Document, function: Node, name: &str, after: usize) -> Option<Vec<Edit>> {
    struct Returns<'t> {
        found: Vec<Node<'t>>,
    }
    impl<'t> syntax::Visitor<'t> for Returns<'t> {
        fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
            if node.kind_name() == "return_statement" {
                self.found.push(node);
            }
            !matches!(node.kind_name(), "function_definition" | "lambda" | "class_definition")
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let text = document.text();
    let newline = newline_of(text);
    let body = function.child_by_field_id(syntax::fields().body)?;
    let mut returns = Returns { found: Vec::new() };
    syntax::walk_node(body, &mut returns);
    let mut edits = Vec::new();
    for statement in returns.found.into_iter().filter(|statement| statement.start_byte() > after) {
        let indent = line_indent(text, statement)?;
        edits.push(Edit::insert(statement.start_byte(), format!("await {name}{newline}{indent}")));
    }
    let last = syntax::named_children(body).filter(|child| child.kind_name() != "comment").last()?;
    if !matches!(last.kind_name(), "return_statement" | "raise_statement") {
        let first = syntax::named_children(body).next()?;
        let indent = line_indent(text, first)?;
        if line_indent(text, last)? != indent || last.end_byte() <= after {
            return None;
        }
        edits.push(Edit::insert(last.end_byte(), format!("{newline}{indent}await {name}")));
    }
    edits.sort_by_key(|edit| edit.range.start);
    Some(edits)
}

/// A name not yet bound in the call's scope: `task`, else `task_1`, `task_2`, ...
fn fresh_name(model: &SemanticModel, call: &CallSite, base: &str) -> String {
    fresh_name_in(model, call.scope, base, &[])
}

/// A name bound neither in `scope` nor among `taken`: `base`, else `base_1`, `base_2`, ...
fn fresh_name_in(model: &SemanticModel, scope: super::semantic::ScopeId, base: &str, taken: &[String]) -> String {
    std::iter::once(base.to_owned())
        .chain((1..).map(|suffix| format!("{base}_{suffix}")))
        .find(|candidate| !model.is_bound(scope, candidate) && !taken.contains(candidate))
        .expect("an unbounded sequence of names has a free one")
}

/// `a = await f(x)` / `b = await g(y)` → `a, b = await asyncio.gather(f(x), g(y))`. Unsafe: the calls now overlap,
/// and an exception in one no longer stops the others from starting.
pub fn gather_statements_fix(
    document: &Document,
    model: &SemanticModel,
    statements: &[super::concurrency::AwaitedStatement],
) -> Option<Fix> {
    // `asyncio.gather` and `TaskGroup` do not run under trio; a nursery rewrite is for the author to shape.
    if model.event_loop() != EventLoop::Asyncio {
        return None;
    }
    let (first, last) = (statements.first()?, statements.last()?);
    line_indent(document.text(), first.statement)?;
    let calls: Vec<&str> = statements.iter().map(|statement| model.text(statement.call)).collect();
    let (asyncio, import) = module_reference(document, model, "asyncio");
    let gathered = format!("await {asyncio}.gather({})", calls.join(", "));
    let new_text = if statements.iter().any(|statement| statement.target.is_some()) {
        let targets: Vec<&str> =
            statements.iter().map(|statement| statement.target.map_or("_", |target| model.text(target))).collect();
        format!("{} = {gathered}", targets.join(", "))
    } else {
        gathered
    };
    let range = TextRange::new(first.statement.start_byte(), last.statement.end_byte());
    let new_text = with_comments(document, range, new_text);
    Some(fix("Run them concurrently with `asyncio.gather`".to_owned(), import, range, new_text, Applicability::Unsafe))
}

/// The same statements in an `asyncio.TaskGroup` (Python 3.11+): a failure cancels the siblings, unlike `gather`.
pub fn task_group_statements_fix(
    document: &Document,
    model: &SemanticModel,
    scope: super::semantic::ScopeId,
    statements: &[super::concurrency::AwaitedStatement],
) -> Option<Fix> {
    // `asyncio.gather` and `TaskGroup` do not run under trio; a nursery rewrite is for the author to shape.
    if model.event_loop() != EventLoop::Asyncio {
        return None;
    }
    let (first, last) = (statements.first()?, statements.last()?);
    let text = document.text();
    let indent = line_indent(text, first.statement)?;
    let newline = newline_of(text);
    let (asyncio, import) = module_reference(document, model, "asyncio");
    let group = fresh_name_in(model, scope, "tg", &[]);
    let mut taken = vec![group.clone()];
    let mut body = format!("async with {asyncio}.TaskGroup() as {group}:");
    let mut results = String::new();
    for statement in statements {
        let call = model.text(statement.call);
        match statement.target {
            Some(target) => {
                let name = model.text(target);
                let task = fresh_name_in(model, scope, &format!("{name}_task"), &taken);
                taken.push(task.clone());
                body.push_str(&format!("{newline}{indent}    {task} = {group}.create_task({call})"));
                results.push_str(&format!("{newline}{indent}{name} = {task}.result()"));
            }
            None => body.push_str(&format!("{newline}{indent}    {group}.create_task({call})")),
        }
    }
    body.push_str(&results);
    let range = TextRange::new(first.statement.start_byte(), last.statement.end_byte());
    let body = with_comments(document, range, body);
    Some(fix("Run them concurrently in an `asyncio.TaskGroup`".to_owned(), import, range, body, Applicability::Unsafe))
}

/// A rewrite of a range keeps the range's comments: they follow the new text on its last line.
fn with_comments(document: &Document, range: TextRange, mut new_text: String) -> String {
    struct Comments<'t> {
        range: TextRange,
        found: Vec<Node<'t>>,
    }
    impl<'t> syntax::Visitor<'t> for Comments<'t> {
        fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
            if node.kind_name() == "comment" && self.range.contains_range(syntax::range(node)) {
                self.found.push(node);
            }
            node.start_byte() < self.range.end && node.end_byte() > self.range.start
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let mut comments = Comments { range, found: Vec::new() };
    document.walk(&mut comments);
    for comment in comments.found {
        new_text.push_str("  ");
        new_text.push_str(syntax::text(comment, document.text()));
    }
    new_text
}

/// How a loop's awaited result is kept.
pub enum LoopCollect<'t> {
    Discard,
    /// `results.append(await ...)`; `fresh` when `results = []` stands right before the loop.
    Append {
        list: &'t str,
        fresh: Option<Node<'t>>,
    },
    /// `results[key] = await ...`; `fresh` when `results = {}` stands right before the loop.
    Store {
        dict: &'t str,
        fresh: Option<Node<'t>>,
    },
}

/// `for u in urls: results.append(await fetch(u))` → `results = await asyncio.gather(*(fetch(u) for u in urls))`
/// (or `.extend(...)`, or a `dict(zip(...))` for keyed results). Unsafe: the calls now overlap.
pub fn gather_loop_fix(
    document: &Document,
    model: &SemanticModel,
    loop_node: Node,
    call: Node,
    collect: &LoopCollect,
) -> Option<Fix> {
    // `asyncio.gather` and `TaskGroup` do not run under trio; a nursery rewrite is for the author to shape.
    if model.event_loop() != EventLoop::Asyncio {
        return None;
    }
    let fields = syntax::fields();
    let variables = model.text(loop_node.child_by_field_id(fields.left)?);
    let iterable_node = loop_node.child_by_field_id(fields.right)?;
    let iterable = model.text(iterable_node);
    line_indent(document.text(), loop_node)?;
    let (asyncio, import) = module_reference(document, model, "asyncio");
    let gathered = format!("await {asyncio}.gather(*({} for {variables} in {iterable}))", model.text(call));
    let (start, new_text) = match collect {
        LoopCollect::Discard => (loop_node.start_byte(), gathered),
        LoopCollect::Append { list, fresh: Some(initial) } => (initial.start_byte(), format!("{list} = {gathered}")),
        LoopCollect::Append { list, fresh: None } => (loop_node.start_byte(), format!("{list}.extend({gathered})")),
        // The keys are the iterable again: only offered when reading it twice is harmless (a name or attribute).
        LoopCollect::Store { .. } if !matches!(iterable_node.kind_name(), "identifier" | "attribute") => return None,
        LoopCollect::Store { dict, fresh: Some(initial) } => {
            (initial.start_byte(), format!("{dict} = dict(zip({iterable}, {gathered}))"))
        }
        LoopCollect::Store { dict, fresh: None } => {
            (loop_node.start_byte(), format!("{dict}.update(zip({iterable}, {gathered}))"))
        }
    };
    let range = TextRange::new(start, loop_node.end_byte());
    let new_text = with_comments(document, range, new_text);
    Some(fix(
        "Run the iterations concurrently with `asyncio.gather`".to_owned(),
        import,
        range,
        new_text,
        Applicability::Unsafe,
    ))
}

/// The expression statement `statement`, when it stands directly in the body of `function` (so code after it always
/// sees a name it binds) and touches no syntax error.
fn body_statement<'t>(function: Node<'t>, statement: Node<'t>) -> Option<Node<'t>> {
    let body = function.child_by_field_id(syntax::fields().body)?;
    let direct = statement.kind_name() == "expression_statement" && statement.parent() == Some(body);
    (direct && !syntax::touches_error(statement)).then_some(statement)
}

const REGISTRY: &str = "_background_tasks";

/// Declares the module-level task registry after the imports, unless the module has one.
fn registry_declaration(document: &Document, model: &SemanticModel, target: (u8, u8)) -> Option<Edit> {
    if model.is_bound(super::semantic::MODULE_SCOPE, REGISTRY) {
        return None;
    }
    let newline = newline_of(document.text());
    let declaration = match model.module_alias("asyncio") {
        Some(asyncio) if target >= (3, 9) => format!("{REGISTRY}: set[{asyncio}.Task] = set(){newline}"),
        _ => format!("{REGISTRY} = set(){newline}"),
    };
    Some(Edit::insert(after_imports(document), format!("{newline}{declaration}")))
}

/// Keeps a strong reference to a dropped task the way the asyncio documentation shows: a module-level set, and a
/// done callback that removes the task when it finishes.
pub fn keep_reference_fix(
    document: &Document,
    model: &SemanticModel,
    call: &CallSite,
    target: (u8, u8),
) -> Option<Fix> {
    let statement = call.node.parent().filter(|parent| parent.kind_name() == "expression_statement")?;
    let indent = registrable_indent(document, call, statement)?;
    let task = fresh_name(model, call, "task");
    let call_text = model.text(call.node);
    let newline = newline_of(document.text());
    let registration = registration_lines(&task, indent, newline);
    let edit = Edit::replace(syntax::range(statement), format!("{task} = {call_text}{registration}"));
    Some(registry_fix(
        document,
        model,
        target,
        edit,
        format!("Keep a reference in `{REGISTRY}` until the task finishes"),
    ))
}

/// Keeps a strong reference to a task bound to `name` (`task = asyncio.create_task(...)`), in the registry
/// [`keep_reference_fix`] uses, right after the assignment.
pub fn keep_bound_reference_fix(
    document: &Document,
    model: &SemanticModel,
    call: &CallSite,
    name: &str,
    target: (u8, u8),
) -> Option<Fix> {
    let assignment = call.node.parent().filter(|parent| parent.kind_name() == "assignment")?;
    let statement = assignment.parent().filter(|parent| parent.kind_name() == "expression_statement")?;
    let indent = registrable_indent(document, call, statement)?;
    // After the statement's line, so that a trailing comment stays on the assignment it is about.
    let text = document.text();
    let line_end = memchr::memchr(b'\n', &text.as_bytes()[statement.end_byte()..])
        .map_or(text.len(), |offset| statement.end_byte() + offset);
    let line_end = if text[..line_end].ends_with('\r') { line_end - 1 } else { line_end };
    let edit = Edit::insert(line_end, registration_lines(name, indent, newline_of(text)));
    Some(registry_fix(
        document,
        model,
        target,
        edit,
        format!("Keep a reference to `{name}` in `{REGISTRY}` until it finishes"),
    ))
}

/// The indentation of the statement a registration goes with, when the fix may touch it: no syntax error in it, and
/// not inside a generator expression.
fn registrable_indent<'d>(document: &'d Document, call: &CallSite, statement: Node) -> Option<&'d str> {
    let indent = line_indent(document.text(), statement)?;
    (!syntax::touches_error(statement) && !call.in_generator).then_some(indent)
}

/// The lines that put `task` in the registry and take it out when it is done, each on a line of its own.
fn registration_lines(task: &str, indent: &str, newline: &str) -> String {
    format!("{newline}{indent}{REGISTRY}.add({task}){newline}{indent}{task}.add_done_callback({REGISTRY}.discard)")
}

/// A safe fix made of `edit` and, when the module has none, the registry's declaration.
fn registry_fix(document: &Document, model: &SemanticModel, target: (u8, u8), edit: Edit, title: String) -> Fix {
    let mut edits: Vec<Edit> = registry_declaration(document, model, target).into_iter().collect();
    edits.push(edit);
    edits.sort_by_key(|edit| edit.range.start);
    Fix { title, edits, applicability: Applicability::Safe }
}

/// Puts `await asyncio.sleep(0)` (the module's own library's `sleep`) first in the body of each outermost loop of a
/// coroutine that never awaits, so that other tasks run between passes. `None` when the coroutine awaits already,
/// when a loop's body does not start a line of its own (`for x in xs: f(x)`) or touches broken syntax.
pub fn yield_in_loops_fix(document: &Document, model: &SemanticModel, coroutine: usize) -> Option<Fix> {
    if !super::concurrency::coroutine_never_awaits(model, coroutine) {
        return None;
    }
    let definition = model.scope(coroutine).node?;
    let loops = super::concurrency::work_loops(definition);
    let outermost = loops.iter().filter(|candidate| {
        !loops.iter().any(|other| {
            other.id() != candidate.id()
                && other.start_byte() <= candidate.start_byte()
                && candidate.end_byte() <= other.end_byte()
        })
    });
    let text = document.text();
    let newline = newline_of(text);
    let (library, import) = module_reference(document, model, model.event_loop().module());
    let mut edits = Vec::new();
    for &found in outermost {
        let body = found.child_by_field_id(syntax::fields().body)?;
        // Comments on lines of their own may come first; the yield goes before the first statement.
        let first = syntax::named_children(body).find(|statement| statement.kind_name() != "comment")?;
        if syntax::touches_error(found) {
            return None;
        }
        let indent = line_indent(text, first)?;
        edits.push(Edit::insert(first.start_byte(), format!("await {library}.sleep(0){newline}{indent}")));
    }
    if edits.is_empty() {
        return None;
    }
    let loops = if edits.len() > 1 { "loops" } else { "loop" };
    edits.extend(import);
    edits.sort_by_key(|edit| edit.range.start);
    let name = model.scope(coroutine).display_name();
    Some(Fix {
        title: format!(
            "Yield to the event loop at the top of each pass of `{name}`'s {loops} (`await {library}.sleep(0)`)"
        ),
        edits,
        applicability: Applicability::Unsafe,
    })
}

/// Binds a dropped task and awaits it before the function returns. This changes timing: the function now waits.
pub fn bind_and_await_fix(document: &Document, model: &SemanticModel, call: &CallSite) -> Option<Fix> {
    if !model.in_async_function(call) {
        return None;
    }
    let function = super::lifecycle::enclosing_function(model, call.scope)?;
    let statement = body_statement(function, call.node.parent()?)?;
    line_indent(document.text(), statement)?;
    let task = fresh_name(model, call, "task");
    let mut edits = vec![Edit::insert(statement.start_byte(), format!("{task} = "))];
    edits.extend(await_before_exits(document, function, &task, statement.end_byte())?);
    edits.sort_by_key(|edit| edit.range.start);
    Some(Fix {
        title: format!("Bind the task to `{task}` and await it before returning"),
        edits,
        applicability: Applicability::Unsafe,
    })
}

/// Awaits a task bound to `name` (by an assignment directly in the function body) before the function returns.
pub fn await_bound_task_fix(document: &Document, model: &SemanticModel, call: &CallSite, name: &str) -> Option<Fix> {
    if !model.in_async_function(call) {
        return None;
    }
    let function = super::lifecycle::enclosing_function(model, call.scope)?;
    let assignment = call.node.parent().filter(|parent| parent.kind_name() == "assignment")?;
    let statement = body_statement(function, assignment.parent()?)?;
    let edits = await_before_exits(document, function, name, statement.end_byte())?;
    Some(Fix { title: format!("Await `{name}` before returning"), edits, applicability: Applicability::Unsafe })
}

/// Just after the last top-level import (or where `import_edit` would put an import when there is none).
fn after_imports(document: &Document) -> usize {
    let text = document.text();
    let last_import = document
        .top_level_nodes()
        .filter(|child| {
            matches!(child.kind_name(), "import_statement" | "import_from_statement" | "future_import_statement")
        })
        .last();
    match last_import {
        Some(import) => match memchr::memchr(b'\n', &text.as_bytes()[import.end_byte()..]) {
            Some(line_break) => import.end_byte() + line_break + 1,
            None => text.len(),
        },
        None => import_edit(document, "asyncio").range.start,
    }
}

fn is_with_item_value(call: Node) -> bool {
    let mut parent = call.parent();
    if parent.is_some_and(|node| node.kind_name() == "as_pattern") {
        parent = parent.and_then(|node| node.parent());
    }
    parent.is_some_and(|node| node.kind_name() == "with_item")
}

fn fix(title: String, import: Option<Edit>, range: TextRange, new_text: String, applicability: Applicability) -> Fix {
    let mut edits: Vec<Edit> = import.into_iter().collect();
    edits.push(Edit::replace(range, new_text));
    edits.sort_by_key(|edit| (edit.range.start, edit.range.end));
    Fix { title, edits, applicability }
}

/// Applies sorted, non-overlapping edits.
pub fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut output = String::with_capacity(text.len() + edits.iter().map(|edit| edit.new_text.len()).sum::<usize>());
    let mut cursor = 0;
    for edit in edits {
        output.push_str(&text[cursor..edit.range.start]);
        output.push_str(&edit.new_text);
        cursor = edit.range.end;
    }
    output.push_str(&text[cursor..]);
    output
}

/// Whether edits are sorted, within the text, on character boundaries, and do not overlap (two insertions at one
/// offset count as overlapping: their order would be ambiguous).
pub fn edits_are_well_formed(text: &str, edits: &[Edit]) -> bool {
    let mut previous_end: Option<usize> = None;
    for edit in edits {
        let TextRange { start, end } = edit.range;
        if start > end || end > text.len() || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return false;
        }
        if previous_end.is_some_and(|previous| start < previous || (start == previous && edit.range.is_empty())) {
            return false;
        }
        previous_end = Some(end);
    }
    true
}

/// Counts `ERROR` and `MISSING` nodes.
pub fn syntax_error_count(document: &Document) -> usize {
    if !document.has_syntax_error() {
        return 0;
    }
    struct Counter(usize);
    impl<'t> syntax::Visitor<'t> for Counter {
        fn enter(&mut self, node: Node<'t>, _field: syntax::Field) -> bool {
            if node.is_error() || node.is_missing() {
                self.0 += 1;
            }
            node.has_error()
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let mut counter = Counter(0);
    document.walk(&mut counter);
    counter.0
}

/// Applies a fix and returns the new text, or `None` when the edits are malformed or the result parses worse than
/// the original (more syntax errors).
pub fn apply_checked(document: &Document, fix: &Fix) -> Option<String> {
    if !edits_are_well_formed(document.text(), &fix.edits) {
        return None;
    }
    (!parses_worse(document, &fix.edits)).then(|| apply_edits(document.text(), &fix.edits))
}

/// Applies several fixes in one pass: sorted by position, a fix overlapping an earlier one is left for the next round.
/// Returns the new text and the positions (in `fixes`) of the fixes applied.
pub fn apply_non_overlapping(document: &Document, fixes: &[&Fix]) -> (String, Vec<usize>) {
    let mut order: Vec<usize> = (0..fixes.len()).collect();
    order.sort_by_key(|&position| fixes[position].edits.first().map(|edit| (edit.range.start, edit.range.end)));
    let mut edits: Vec<Edit> = Vec::new();
    let mut applied = Vec::new();
    let text = document.text();
    for position in order {
        let fix = fixes[position];
        let mut candidate = edits.clone();
        candidate.extend(fix.edits.iter().cloned());
        candidate.sort_by_key(|edit| (edit.range.start, edit.range.end));
        if !edits_are_well_formed(text, &candidate) {
            continue;
        }
        // Each fix must also parse on its own, so one bad fix cannot hide behind a good one.
        if apply_checked(document, fix).is_none() {
            continue;
        }
        edits = candidate;
        applied.push(position);
    }
    let fixed = apply_edits(text, &edits);
    // Fixes that each parse alone can still clash together; then apply only the first this round.
    if applied.len() > 1 && parses_worse(document, &edits) {
        let first = applied[0];
        return (apply_edits(text, &fixes[first].edits), vec![first]);
    }
    (fixed, applied)
}

/// Whether applying `edits` (sorted and well formed) gives more syntax errors than the document has. They are
/// applied to a copy, last first so that offsets hold, and the copy re-parses only the units they touch: the same
/// trees as parsing the fixed text afresh, at the cost of the edit rather than of the file.
fn parses_worse(document: &Document, edits: &[Edit]) -> bool {
    let mut edited = document.clone();
    for edit in edits.iter().rev() {
        edited.edit(edit.range, &edit.new_text);
    }
    syntax_error_count(&edited) > syntax_error_count(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_go_after_docstring_and_future_imports() {
        let cases = [
            ("x = 1\n", "import asyncio\nx = 1\n"),
            ("#!/usr/bin/env python\n# c\nx = 1\n", "#!/usr/bin/env python\n# c\nimport asyncio\nx = 1\n"),
            ("\"\"\"Doc.\"\"\"\nx = 1\n", "\"\"\"Doc.\"\"\"\nimport asyncio\nx = 1\n"),
            (
                "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nx = 1\n",
                "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\nimport asyncio\nx = 1\n",
            ),
            ("\"\"\"Doc.\"\"\"", "\"\"\"Doc.\"\"\"\nimport asyncio\n"),
            ("x = 1\r\n", "import asyncio\r\nx = 1\r\n"),
            ("", "import asyncio\n"),
        ];
        for (before, after) in cases {
            let document = Document::new("m.py", before);
            let edit = import_edit(&document, "asyncio");
            assert_eq!(apply_edits(before, &[edit]), after, "for {before:?}");
        }
    }

    #[test]
    fn malformed_and_overlapping_edits_are_rejected() {
        let text = "héllo";
        assert!(edits_are_well_formed(text, &[Edit::replace(TextRange::new(0, 1), "j")]));
        assert!(!edits_are_well_formed(text, &[Edit::replace(TextRange::new(2, 3), "x")]), "mid-character");
        assert!(!edits_are_well_formed(text, &[Edit::insert(99, "x")]));
        let overlapping = [Edit::replace(TextRange::new(0, 3), "a"), Edit::replace(TextRange::new(1, 4), "b")];
        assert!(!edits_are_well_formed(text, &overlapping));
        let same_point = [Edit::insert(0, "a"), Edit::insert(0, "b")];
        assert!(!edits_are_well_formed(text, &same_point));
    }

    #[test]
    fn a_fix_that_breaks_the_syntax_is_never_applied() {
        let document = Document::new("m.py", "x = f(1)\n");
        let breaking = Fix {
            title: "break".into(),
            edits: vec![Edit::replace(TextRange::new(4, 8), "await (")],
            applicability: Applicability::Safe,
        };
        assert_eq!(apply_checked(&document, &breaking), None);
        let (text, applied) = apply_non_overlapping(&document, &[&breaking]);
        assert_eq!((text.as_str(), applied), ("x = f(1)\n", vec![]));
    }

    #[test]
    fn fixes_that_parse_alone_but_clash_together_are_applied_one_per_round() {
        let document = Document::new("m.py", "x = 1 + 2 + 3\n");
        let wrap = |open: usize, close: usize, brackets: (&str, &str)| Fix {
            title: "wrap".into(),
            edits: vec![Edit::insert(open, brackets.0), Edit::insert(close, brackets.1)],
            applicability: Applicability::Safe,
        };
        let parenthesise = wrap(4, 9, ("(", ")"));
        let listify = wrap(8, 13, ("[", "]"));
        assert_eq!(apply_checked(&document, &parenthesise).as_deref(), Some("x = (1 + 2) + 3\n"));
        assert_eq!(apply_checked(&document, &listify).as_deref(), Some("x = 1 + [2 + 3]\n"));
        let (text, applied) = apply_non_overlapping(&document, &[&listify, &parenthesise]);
        assert_eq!((text.as_str(), applied), ("x = (1 + 2) + 3\n", vec![1]));
    }
}
