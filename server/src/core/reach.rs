//! What a call really runs on the loop's thread: whether a generator's body is consumed where it is called, the
//! `isinstance` guard a call sits under, what is known of a call's argument types, and which functions run the
//! function they are given (or decorate) in a worker thread.

use serde::{Deserialize, Serialize};
use tree_sitter::Node;

use super::semantic::{Resolved, ScopeId, SemanticModel};
use super::syntax::{self, KindName};

/// A blocking call or project call that runs only when `isinstance(<parameter>, <types>)` is `holds`: the body of
/// `if isinstance(fp, (str, os.PathLike)):` (holds) or of its `else:` (does not hold).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Guard {
    /// The parameter's position among the positional parameters that callers fill (`self` and `cls` not counted).
    pub position: Option<u16>,
    pub parameter: String,
    /// The qualified names of the types tested (`str`, `os.PathLike`).
    pub types: Vec<String>,
    pub holds: bool,
}

/// What a call site passes, where its type is known: `File(io.BytesIO(data))` passes an `io.BytesIO` first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArgumentType {
    /// Its position among the positional arguments, or `None` for a keyword argument.
    pub position: Option<u16>,
    pub keyword: Option<String>,
    pub type_name: String,
}

/// What the index needs to know of one call to judge what it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFacts {
    /// The call's result is iterated or entered right where it is made, so a generator's body runs there.
    pub consumes_result: bool,
    pub arguments: Vec<ArgumentType>,
}

impl CallFacts {
    pub fn of(model: &SemanticModel, call: Node, scope: ScopeId) -> Self {
        CallFacts { consumes_result: consumes_result(model, call), arguments: argument_types(model, call, scope) }
    }
}

/// Builtins and methods that iterate the whole iterable they are given.
const CONSUMING_FUNCTIONS: &[&str] =
    &["list", "tuple", "set", "frozenset", "sorted", "sum", "any", "all", "min", "max", "next", "dict", "bytes"];
const CONSUMING_METHODS: &[&str] = &["join", "extend", "update", "writelines"];
/// Builtins that wrap an iterable lazily: whether it runs depends on what consumes the wrapper.
const WRAPPING_FUNCTIONS: &[&str] = &["enumerate", "zip", "map", "filter", "reversed", "iter"];

/// Whether the result of `call` is iterated, entered (`with`) or delegated to (`yield from`) where it stands: only
/// then does calling a generator function run its body.
pub fn consumes_result(model: &SemanticModel, call: Node) -> bool {
    let fields = syntax::fields();
    let mut node = call;
    // Each step climbs out of one lazy wrapper (`enumerate(gen())`); a few are plenty.
    for _ in 0..4 {
        let Some(parent) = node.parent() else { return false };
        match parent.kind_name() {
            "for_statement" | "for_in_clause" => return parent.child_by_field_id(fields.right) == Some(node),
            "with_item" | "list_splat" | "dictionary_splat" => return true,
            "as_pattern" => return parent.parent().is_some_and(|grand| grand.kind_name() == "with_item"),
            "yield" => return syntax::text(parent, model.source).starts_with("yield from"),
            "argument_list" => {
                let Some(outer) = parent.parent().filter(|outer| outer.kind_name() == "call") else { return false };
                let Some(function) = outer.child_by_field_id(fields.function) else { return false };
                let name = match function.kind_name() {
                    "identifier" => syntax::text(function, model.source),
                    "attribute" => {
                        let method = function.child_by_field_id(fields.attribute);
                        let method = method.map(|method| syntax::text(method, model.source)).unwrap_or("");
                        return CONSUMING_METHODS.contains(&method);
                    }
                    _ => return false,
                };
                if CONSUMING_FUNCTIONS.contains(&name) {
                    return true;
                }
                if !WRAPPING_FUNCTIONS.contains(&name) {
                    return false;
                }
                node = outer;
            }
            _ => return false,
        }
    }
    false
}

/// Whether the call's first argument certainly starts with one of `prefixes`: a string literal that does, or a name
/// the function checks with `name.startswith(prefix)`, around the call or in an earlier `if not ...: raise/return`.
pub fn first_argument_has_prefix(model: &SemanticModel, call: Node, scope: ScopeId, prefixes: &[String]) -> bool {
    let Some(first) = syntax::first_positional_argument(call) else { return false };
    if let Some(value) = syntax::literal_value(first, model.source) {
        return prefixes.iter().any(|prefix| value.starts_with(prefix.as_str()));
    }
    if first.kind_name() != "identifier" {
        return false;
    }
    let name = model.text(first);
    let checks = |condition: Node, negated: bool| -> bool {
        let written: String = model.text(condition).split_whitespace().collect();
        let test = written.strip_prefix("not").filter(|_| negated).unwrap_or(if negated { "" } else { &written });
        prefixes.iter().any(|prefix| {
            test == format!("{name}.startswith(\"{prefix}\")") || test == format!("{name}.startswith('{prefix}')")
        })
    };
    let fields = syntax::fields();
    let function = model.scope(scope).node.map(|node| node.id());
    let mut child = call;
    while let Some(parent) = child.parent() {
        if Some(parent.id()) == function {
            break;
        }
        if parent.kind_name() == "if_statement"
            && parent.child_by_field_id(fields.consequence) == Some(child)
            && parent.child_by_field_id(fields.condition).is_some_and(|condition| checks(condition, false))
        {
            return true;
        }
        // `if not name.startswith(...): raise ...` earlier in the same block.
        if parent.kind_name() == "block" {
            let earlier =
                syntax::named_children(parent).take_while(|statement| statement.end_byte() <= child.start_byte());
            for statement in earlier.filter(|statement| statement.kind_name() == "if_statement") {
                let exits = statement.child_by_field_id(fields.consequence).is_some_and(|block| {
                    syntax::named_children(block)
                        .last()
                        .is_some_and(|last| matches!(last.kind_name(), "raise_statement" | "return_statement"))
                });
                if exits
                    && statement.child_by_field_id(fields.condition).is_some_and(|condition| checks(condition, true))
                {
                    return true;
                }
            }
        }
        child = parent;
    }
    false
}

/// Exceptions that only non-blocking I/O raises: a call whose `try` handles one is written for a non-blocking socket
/// or file, and returns at once.
const NON_BLOCKING_ERRORS: &[&str] = &["BlockingIOError", "SSLWantReadError", "SSLWantWriteError"];

/// Whether a method call is made on a non-blocking object: inside a `try` that handles `BlockingIOError`, or on a
/// receiver that the same function set non-blocking (`sock.setblocking(False)`, `sock.settimeout(0)`).
pub fn is_non_blocking_attempt(model: &SemanticModel, call: Node, scope: ScopeId) -> bool {
    let fields = syntax::fields();
    let Some(receiver) = call
        .child_by_field_id(fields.function)
        .filter(|function| function.kind_name() == "attribute")
        .and_then(|function| function.child_by_field_id(fields.object))
    else {
        return false;
    };
    let definition = model.scope(scope).node;
    // Most functions name none of these: their text says so faster than climbing the tree from every call.
    let mentions =
        |names: &[&str]| definition.is_none_or(|node| names.iter().any(|name| model.text(node).contains(name)));
    let function = definition.map(|node| node.id());
    let mut node = call;
    let may_catch = mentions(NON_BLOCKING_ERRORS);
    while let Some(parent) = node.parent().filter(|_| may_catch) {
        if Some(parent.id()) == function {
            break;
        }
        if parent.kind_name() == "try_statement" && parent.child_by_field_id(fields.body) == Some(node) {
            let handles =
                syntax::named_children(parent).filter(|clause| clause.kind_name() == "except_clause").any(|clause| {
                    let caught = syntax::named_children(clause).find(|part| part.kind_name() != "block");
                    caught.is_some_and(|caught| {
                        let text = model.text(caught);
                        NON_BLOCKING_ERRORS.iter().any(|error| text.contains(error))
                    })
                });
            if handles {
                return true;
            }
        }
        node = parent;
    }
    let receiver = model.text(receiver);
    let Some(function) = definition.filter(|_| mentions(&["setblocking", "settimeout"])) else { return false };
    // Compared by their nodes' text, without building each callee's text: a function makes many calls.
    model.calls_within(function).iter().any(|other| {
        let Some(callee) = other.node.child_by_field_id(fields.function).filter(|f| f.kind_name() == "attribute")
        else {
            return false;
        };
        let method = callee.child_by_field_id(fields.attribute).map(|attribute| model.text(attribute));
        let object = callee.child_by_field_id(fields.object).map(|object| model.text(object));
        if other.scope != scope || object != Some(receiver) {
            return false;
        }
        let argument = syntax::first_positional_argument(other.node).map(|argument| model.text(argument));
        match method {
            Some("setblocking") => matches!(argument, Some("False" | "0")),
            Some("settimeout") => matches!(argument, Some("0" | "0.0")),
            _ => false,
        }
    })
}

/// Whether `call` stands in a `for` or `while` loop of its own function.
pub fn inside_loop(model: &SemanticModel, call: Node, scope: ScopeId) -> bool {
    let function = model.scope(scope).node.map(|node| node.id());
    let mut node = call;
    while let Some(parent) = node.parent() {
        if Some(parent.id()) == function {
            return false;
        }
        if matches!(parent.kind_name(), "for_statement" | "while_statement") {
            return true;
        }
        node = parent;
    }
    false
}

/// Whether `call` runs whenever its function runs, as far as branches go: not in an `if`, `elif` or `else` branch, a
/// conditional expression, the right side of `and`/`or`, an `except` handler or a `match` case. Loop, `with` and
/// `try` bodies count as running.
pub fn runs_whenever_called(model: &SemanticModel, call: Node, scope: ScopeId) -> bool {
    let Some(function) = model.scope(scope).node else { return true };
    let condition = syntax::fields().condition;
    let ancestors = syntax::ancestors_below(function, call);
    let mut child = call;
    for &parent in ancestors.iter().rev() {
        let branch = match parent.kind_name() {
            "if_statement" => parent.child_by_field_id(condition) != Some(child),
            "elif_clause"
            | "else_clause"
            | "except_clause"
            | "except_group_clause"
            | "case_clause"
            | "conditional_expression" => true,
            "boolean_operator" => parent.named_child(0) != Some(child),
            _ => false,
        };
        if branch {
            return false;
        }
        child = parent;
    }
    true
}

/// The innermost `isinstance` test on a parameter of the enclosing function that decides whether `call` runs.
pub fn guard_of(model: &SemanticModel, call: Node, scope: ScopeId) -> Option<Guard> {
    let fields = syntax::fields();
    let function = model.scope(scope).node.filter(|node| node.kind_name() == "function_definition")?;
    // Climbing with `parent()` descends from the tree's root at every step; one descent from the function finds
    // every ancestor at once (a third of the time of AL110's candidate checks on aiohttp).
    let ancestors = syntax::ancestors_below(function, call);
    let mut child = call;
    for &parent in ancestors.iter().rev() {
        if parent.id() == function.id() {
            return None;
        }
        let test = match parent.kind_name() {
            "if_statement" | "elif_clause" if parent.child_by_field_id(fields.consequence) == Some(child) => {
                parent.child_by_field_id(fields.condition).map(|condition| (condition, true))
            }
            "else_clause" => parent
                .parent()
                .filter(|statement| {
                    statement.kind_name() == "if_statement"
                        && syntax::named_children(*statement).filter(|part| part.kind_name() == "elif_clause").count()
                            == 0
                })
                .and_then(|statement| statement.child_by_field_id(fields.condition))
                .map(|condition| (condition, false)),
            "conditional_expression" => {
                let parts: Vec<Node> = syntax::named_children(parent).collect();
                match parts.as_slice() {
                    [consequence, condition, _] if *consequence == child => Some((*condition, true)),
                    [_, condition, alternative] if *alternative == child => Some((*condition, false)),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(guard) =
            test.and_then(|(condition, holds)| isinstance_guard(model, function, condition, holds, scope))
        {
            return Some(guard);
        }
        child = parent;
    }
    None
}

/// `isinstance(name, T)` or `isinstance(name, (T1, T2))`, possibly under `not`, where `name` is a parameter.
fn isinstance_guard(
    model: &SemanticModel,
    function: Node,
    condition: Node,
    holds: bool,
    scope: ScopeId,
) -> Option<Guard> {
    let fields = syntax::fields();
    let condition = match condition.kind_name() {
        "parenthesized_expression" => condition.named_child(0)?,
        _ => condition,
    };
    if condition.kind_name() == "not_operator" {
        return isinstance_guard(model, function, condition.named_child(0)?, !holds, scope);
    }
    if condition.kind_name() != "call"
        || condition.child_by_field_id(fields.function).map(|callee| model.text(callee)) != Some("isinstance")
    {
        return None;
    }
    let arguments: Vec<Node> = syntax::named_children(condition.child_by_field_id(fields.arguments)?)
        .filter(|argument| argument.kind_name() != "comment")
        .collect();
    let [subject, tested] = arguments.as_slice() else { return None };
    if subject.kind_name() != "identifier" {
        return None;
    }
    let parameter = model.text(*subject);
    let position = parameter_position(model, function, parameter, scope)?;
    let tested: Vec<Node> = match tested.kind_name() {
        "tuple" => syntax::named_children(*tested).collect(),
        _ => vec![*tested],
    };
    let mut types = Vec::new();
    for node in tested {
        match model.resolve(node, model.scope(scope).parent.unwrap_or(scope)) {
            Resolved::Path(path) => types.push(path),
            _ => return None,
        }
    }
    Some(Guard { position, parameter: parameter.to_owned(), types, holds })
}

/// Where a parameter stands among the positional parameters callers fill (`self`/`cls` of a method skipped); `None`
/// position for a keyword-only one. `None` when the function has no such parameter.
fn parameter_position(model: &SemanticModel, function: Node, name: &str, scope: ScopeId) -> Option<Option<u16>> {
    let parameters = function.child_by_field_id(syntax::fields().parameters)?;
    let is_method = model.scope(scope).class.is_some()
        && !model.scope(scope).decorators.iter().any(|decorator| model.text(*decorator) == "staticmethod");
    let mut position: u16 = 0;
    let mut positional = true;
    let mut skip_first = is_method;
    for parameter in syntax::named_children(parameters) {
        if matches!(parameter.kind_name(), "list_splat_pattern" | "keyword_separator") {
            positional = false;
        }
        let parameter_name = syntax::parameter_name(parameter);
        let Some(parameter_name) = parameter_name else { continue };
        if std::mem::take(&mut skip_first) {
            continue;
        }
        if model.text(parameter_name) == name {
            return Some(positional.then_some(position));
        }
        position += 1;
    }
    None
}

/// The known types of a call's arguments: literals, constructor calls, typed names.
pub fn argument_types(model: &SemanticModel, call: Node, scope: ScopeId) -> Vec<ArgumentType> {
    let Some(arguments) = call.child_by_field_id(syntax::fields().arguments) else { return Vec::new() };
    let mut known = Vec::new();
    let mut position: u16 = 0;
    for argument in syntax::named_children(arguments) {
        match argument.kind_name() {
            "comment" => {}
            "list_splat" | "dictionary_splat" => break, // positions after `*args` are unknown
            "keyword_argument" => {
                let name = argument.child_by_field_id(syntax::fields().name).map(|name| model.text(name));
                let value = argument.child_by_field_id(syntax::fields().value);
                if let (Some(name), Some(type_name)) = (name, value.and_then(|value| type_of(model, value, scope))) {
                    known.push(ArgumentType { position: None, keyword: Some(name.to_owned()), type_name });
                }
            }
            _ => {
                if let Some(type_name) = type_of(model, argument, scope) {
                    known.push(ArgumentType { position: Some(position), keyword: None, type_name });
                }
                position += 1;
            }
        }
    }
    known
}

fn type_of(model: &SemanticModel, node: Node, scope: ScopeId) -> Option<String> {
    let literal = match node.kind_name() {
        "string" | "concatenated_string" => {
            let prefix: String = model.text(node).chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            Some(if prefix.to_ascii_lowercase().contains('b') { "bytes" } else { "str" })
        }
        "integer" => Some("int"),
        "float" => Some("float"),
        "true" | "false" => Some("bool"),
        "none" => Some("None"),
        "list" | "list_comprehension" => Some("list"),
        "dictionary" | "dictionary_comprehension" => Some("dict"),
        "tuple" => Some("tuple"),
        _ => None,
    };
    if let Some(literal) = literal {
        return Some(literal.to_owned());
    }
    match model.resolve(node, scope) {
        Resolved::Instance(type_name) => Some(type_name),
        _ => None,
    }
}

/// Types whose every supertype that code tests with `isinstance` is known: the answer for them is certain.
const KNOWN_SUPERTYPES: &[(&str, &[&str])] = &[
    ("str", &["str", "object", "collections.abc.Sequence", "typing.Sequence"]),
    ("bytes", &["bytes", "object", "collections.abc.Sequence", "typing.Sequence"]),
    ("int", &["int", "object", "numbers.Number", "numbers.Integral", "numbers.Real"]),
    ("float", &["float", "object", "numbers.Number", "numbers.Real"]),
    ("bool", &["bool", "int", "object", "numbers.Number", "numbers.Integral"]),
    ("None", &["object", "types.NoneType"]),
    ("list", &["list", "object", "collections.abc.Sequence", "typing.Sequence", "collections.abc.Iterable"]),
    ("tuple", &["tuple", "object", "collections.abc.Sequence", "typing.Sequence", "collections.abc.Iterable"]),
    ("dict", &["dict", "object", "collections.abc.Mapping", "typing.Mapping", "collections.abc.Iterable"]),
    ("io.BytesIO", &["io.BytesIO", "io.BufferedIOBase", "io.IOBase", "object", "typing.IO", "typing.BinaryIO"]),
    ("io.StringIO", &["io.StringIO", "io.TextIOBase", "io.IOBase", "object", "typing.IO", "typing.TextIO"]),
    ("pathlib.Path", &["pathlib.Path", "pathlib.PurePath", "os.PathLike", "object"]),
    ("pathlib.PurePath", &["pathlib.PurePath", "os.PathLike", "object"]),
];

/// Whether `isinstance(<a value of type_name>, types)` can be true: `Some(false)` only when it certainly is not.
/// `bases` gives a project class's base classes, for classes the table above does not know.
pub fn may_be_instance(type_name: &str, types: &[String], bases: &dyn Fn(&str) -> Option<Vec<String>>) -> bool {
    let mut pending = vec![type_name.to_owned()];
    let mut seen = 0;
    while let Some(current) = pending.pop() {
        seen += 1;
        if seen > 32 || types.iter().any(|tested| *tested == current || tested == "object") {
            return true;
        }
        match KNOWN_SUPERTYPES.iter().find(|(known, _)| *known == current) {
            Some((_, supertypes)) => {
                if types.iter().any(|tested| supertypes.contains(&tested.as_str())) {
                    return true;
                }
            }
            // A project class: its bases decide; a class of unknown ancestry might be anything.
            None => match bases(&current) {
                Some(parents) => pending.extend(parents),
                None => return true,
            },
        }
    }
    false
}

/// Whether a guarded hop can run for a call passing `arguments`.
pub fn guard_may_hold(guard: &Guard, arguments: &[ArgumentType], bases: &dyn Fn(&str) -> Option<Vec<String>>) -> bool {
    let passed = arguments.iter().find(|argument| {
        (argument.position.is_some() && argument.position == guard.position)
            || argument.keyword.as_deref() == Some(guard.parameter.as_str())
    });
    let Some(passed) = passed else { return true };
    let is_instance = may_be_instance(&passed.type_name, &guard.types, bases);
    // An `else:` branch (holds = false) is unreachable only when the value is certainly an instance.
    if guard.holds {
        is_instance
    } else {
        !certainly_instance(&passed.type_name, &guard.types)
    }
}

fn certainly_instance(type_name: &str, types: &[String]) -> bool {
    types.iter().any(|tested| tested == type_name || tested == "object")
        || KNOWN_SUPERTYPES
            .iter()
            .find(|(known, _)| *known == type_name)
            .is_some_and(|(_, supertypes)| types.iter().any(|tested| supertypes.contains(&tested.as_str())))
}

/// Whether the function passes its first parameter (the function it decorates, for a decorator) to a call that runs
/// it in a worker thread, directly, through `functools.partial`, or inside a lambda; in its own body or in the
/// wrappers it defines.
pub fn offloads_first_parameter(model: &SemanticModel, scope: ScopeId) -> bool {
    let Some(function) = model.scope(scope).node.filter(|node| node.kind_name() == "function_definition") else {
        return false;
    };
    let Some(parameters) = function.child_by_field_id(syntax::fields().parameters) else { return false };
    let first = syntax::named_children(parameters).find_map(|parameter| match parameter.kind_name() {
        "identifier" => Some(parameter),
        "typed_parameter" => syntax::named_children(parameter).find(|child| child.kind_name() == "identifier"),
        _ => None,
    });
    let Some(first) = first.map(|first| model.text(first)) else { return false };
    // The arguments first: comparing their text is cheaper than resolving every callee.
    model.calls_within(function).iter().any(|call| {
        let arguments = call.node.child_by_field_id(syntax::fields().arguments);
        arguments
            .is_some_and(|arguments| syntax::named_children(arguments).any(|argument| passes(model, argument, first)))
            && is_within(model, call.scope, scope)
            && is_offload_call(model, call.node, call.scope)
    })
}

/// Whether a call runs the function it is given in a worker thread (`asyncio.to_thread`, `loop.run_in_executor`).
pub fn is_offload_call(model: &SemanticModel, call: Node, scope: ScopeId) -> bool {
    let Some(function) = call.child_by_field_id(syntax::fields().function) else { return false };
    let path = match model.resolve(function, scope) {
        Resolved::Path(path) => Some(path),
        _ => None,
    };
    let method = (function.kind_name() == "attribute")
        .then(|| function.child_by_field_id(syntax::fields().attribute))
        .flatten()
        .map(|attribute| model.text(attribute));
    model.catalogue().is_offload_call(path.as_deref(), method)
}

/// `func`, `partial(func, ...)`, `target=func` or `lambda: func(...)`: the argument hands `name` on to be run.
fn passes(model: &SemanticModel, argument: Node, name: &str) -> bool {
    match argument.kind_name() {
        "identifier" => model.text(argument) == name,
        "keyword_argument" => {
            argument.child_by_field_id(syntax::fields().value).is_some_and(|value| passes(model, value, name))
        }
        "call" => {
            let partial = argument
                .child_by_field_id(syntax::fields().function)
                .is_some_and(|callee| matches!(model.text(callee), "partial" | "functools.partial"));
            partial && syntax::first_positional_argument(argument).is_some_and(|first| passes(model, first, name))
        }
        "lambda" => argument.child_by_field_id(syntax::fields().body).is_some_and(|body| {
            body.kind_name() == "call"
                && body.child_by_field_id(syntax::fields().function).is_some_and(|callee| passes(model, callee, name))
        }),
        _ => false,
    }
}

/// Whether `inner` is `outer` or a scope nested in it.
fn is_within(model: &SemanticModel, inner: ScopeId, outer: ScopeId) -> bool {
    let mut current = Some(inner);
    while let Some(id) = current {
        if id == outer {
            return true;
        }
        current = model.scope(id).parent;
    }
    false
}
