//! Small, allocation-free helpers over tree-sitter-python nodes, and an iterative pre-order walk.

use std::sync::OnceLock;

use tree_sitter::{Language, Node, TreeCursor};

use super::diagnostic::TextRange;

/// The grammar's field ids, looked up once: `child_by_field_name` searches the field name on every call, which showed
/// as a tenth of the time of a semantic walk.
pub struct FieldIds {
    pub alternative: u16,
    pub alias: u16,
    pub arguments: u16,
    pub attribute: u16,
    pub body: u16,
    pub condition: u16,
    pub consequence: u16,
    pub definition: u16,
    pub function: u16,
    pub left: u16,
    pub module_name: u16,
    pub name: u16,
    pub object: u16,
    pub operator: u16,
    pub parameters: u16,
    pub return_type: u16,
    pub right: u16,
    pub superclasses: u16,
    pub type_: u16,
    pub value: u16,
}

pub fn fields() -> &'static FieldIds {
    static FIELDS: OnceLock<FieldIds> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let language: Language = tree_sitter_python::LANGUAGE.into();
        let id = |name: &str| language.field_id_for_name(name).map_or(0, |id| id.get());
        FieldIds {
            alternative: id("alternative"),
            alias: id("alias"),
            arguments: id("arguments"),
            attribute: id("attribute"),
            body: id("body"),
            condition: id("condition"),
            consequence: id("consequence"),
            definition: id("definition"),
            function: id("function"),
            left: id("left"),
            module_name: id("module_name"),
            name: id("name"),
            object: id("object"),
            operator: id("operator"),
            parameters: id("parameters"),
            return_type: id("return_type"),
            right: id("right"),
            superclasses: id("superclasses"),
            type_: id("type"),
            value: id("value"),
        }
    })
}

/// `Node::kind` finds the name's length and checks its UTF-8 on every call (4% of a batch run, in hot walks); this reads
/// the name from a table built once.
pub trait KindName {
    fn kind_name(&self) -> &'static str;
}

impl KindName for Node<'_> {
    fn kind_name(&self) -> &'static str {
        static LANGUAGE: OnceLock<Language> = OnceLock::new();
        static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            let language = LANGUAGE.get_or_init(|| tree_sitter_python::LANGUAGE.into());
            (0..language.node_kind_count()).map(|id| language.node_kind_for_id(id as u16).unwrap_or("")).collect()
        });
        // The error symbol (u16::MAX) lies outside the grammar's table.
        names.get(usize::from(self.kind_id())).copied().unwrap_or("ERROR")
    }
}

pub fn range(node: Node) -> TextRange {
    TextRange::new(node.start_byte(), node.end_byte())
}

pub fn text<'a>(node: Node, source: &'a str) -> &'a str {
    source.get(node.start_byte()..node.end_byte()).unwrap_or("")
}

/// Callee text longer than this is not quoted in messages: they stay one readable line.
const MAX_QUOTED_CALLEE: usize = 40;

/// How a call's callee is written (`t.sleep`, `self.warm`), with line breaks and runs of spaces collapsed to one
/// space; empty for a call without one.
pub fn callee_text(call: Node, source: &str) -> String {
    let written = call.child_by_field_id(fields().function).map(|function| text(function, source)).unwrap_or("");
    written.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The callee text when it is short enough to quote in a message.
pub fn quotable(callee: &str) -> Option<&str> {
    (!callee.is_empty() && callee.len() <= MAX_QUOTED_CALLEE).then_some(callee)
}

/// The name of a positional parameter (`x`, `x: int`, `x=1`, `x: int = 1`); `None` for `*args`, `**kwargs`, `*`
/// and `/`.
pub fn parameter_name(parameter: Node) -> Option<Node> {
    match parameter.kind_name() {
        "identifier" => Some(parameter),
        "typed_parameter" => named_children(parameter).find(|child| child.kind_name() == "identifier"),
        "default_parameter" | "typed_default_parameter" => parameter.child_by_field_id(fields().name),
        _ => None,
    }
}

/// A call's first positional argument: not a keyword argument, not `*args`.
pub fn first_positional_argument(call: Node) -> Option<Node> {
    let arguments = call.child_by_field_id(fields().arguments)?;
    let first = named_children(arguments).find(|argument| argument.kind_name() != "comment")?;
    (!matches!(first.kind_name(), "keyword_argument" | "list_splat" | "dictionary_splat")).then_some(first)
}

/// The value of a plain literal as written: the digits of a number, the content of a string without prefix, escapes
/// or interpolation. `None` for anything else.
pub fn literal_value<'a>(node: Node, source: &'a str) -> Option<&'a str> {
    match node.kind_name() {
        "integer" | "float" => Some(text(node, source)),
        "string" => {
            let written = text(node, source);
            let quote = written.chars().next().filter(|first| *first == '"' || *first == '\'')?;
            let content = written.strip_prefix(quote)?.strip_suffix(quote)?;
            (!content.contains(['\\', quote])).then_some(content)
        }
        _ => None,
    }
}

/// Whether a function's own code (not that of the functions, lambdas and classes nested in it) has a node that
/// `matches`.
pub fn own_code_has(definition: Node, matches: impl Fn(Node) -> bool) -> bool {
    struct Finder<F> {
        matches: F,
        root: usize,
        found: bool,
    }
    impl<'t, F: Fn(Node) -> bool> Visitor<'t> for Finder<F> {
        fn enter(&mut self, node: Node<'t>, _field: Field) -> bool {
            if self.found {
                return false;
            }
            if matches!(node.kind_name(), "function_definition" | "lambda" | "class_definition")
                && node.id() != self.root
            {
                return false;
            }
            self.found = (self.matches)(node);
            !self.found
        }
        fn leave(&mut self, _node: Node<'t>) {}
    }
    let mut finder = Finder { matches, root: definition.id(), found: false };
    walk_node(definition, &mut finder);
    finder.found
}

/// `async def` is a `function_definition` whose first token is `async`.
pub fn is_async_function(node: Node) -> bool {
    node.kind_name() == "function_definition" && node.child(0).is_some_and(|first| first.kind_name() == "async")
}

/// A function whose body only documents, passes or raises (`...`, `raise NotImplementedError`): an interface that
/// subclasses override, so its body says nothing about what a call of the method runs.
pub fn is_stub_function(definition: Node) -> bool {
    let Some(body) = definition.child_by_field_id(fields().body) else { return false };
    named_children(body).all(|statement| match statement.kind_name() {
        "comment" | "pass_statement" | "raise_statement" => true,
        "expression_statement" => {
            statement.named_child_count() == 1
                && statement.named_child(0).is_some_and(|value| matches!(value.kind_name(), "string" | "ellipsis"))
        }
        _ => false,
    })
}

/// The named children of a node, without allocating.
pub fn named_children<'t>(node: Node<'t>) -> impl Iterator<Item = Node<'t>> {
    (0..node.named_child_count()).filter_map(move |index| node.named_child(index as u32))
}

/// The nodes from `top` down to the parent of `node` (which `top` contains), outermost first; empty when `top` does
/// not contain it.
pub fn ancestors_below<'t>(top: Node<'t>, node: Node<'t>) -> Vec<Node<'t>> {
    let mut chain = Vec::new();
    let mut current = top;
    while current.id() != node.id() {
        chain.push(current);
        match current.child_with_descendant(node) {
            Some(next) => current = next,
            None => return Vec::new(),
        }
    }
    chain
}

/// Whether the node or anything inside it is an `ERROR` or `MISSING` node: such text is not safe to rewrite.
pub fn touches_error(node: Node) -> bool {
    node.has_error() || node.is_missing() || node.is_error()
}

/// The `if` conditions that mean "only while type checking": `TYPE_CHECKING` and `typing.TYPE_CHECKING`.
pub fn is_type_checking_guard(condition: Node, source: &str) -> bool {
    let condition = text(condition, source);
    condition == "TYPE_CHECKING" || condition.ends_with(".TYPE_CHECKING")
}

/// Receives the nodes of a pre-order walk. `enter` returns whether to descend into the node.
pub trait Visitor<'t> {
    /// `field` tells the node's field in its parent, when asked.
    fn enter(&mut self, node: Node<'t>, field: Field) -> bool;
    fn leave(&mut self, node: Node<'t>);
}

/// The field of the node a walk is at, worked out only when a visitor asks: tree-sitter finds it by searching the
/// parent's field map, which for every node of every walk was 1.7% of a batch run.
#[derive(Clone, Copy)]
pub struct Field<'c, 't>(&'c TreeCursor<'t>);

impl Field<'_, '_> {
    /// The field's id (compare with [`fields`]), if the node fills one: ids are cheap where names would be looked up
    /// and checked.
    pub fn id(self) -> Option<u16> {
        self.0.field_id().map(|id| id.get())
    }
}

/// Walks the tree under `root` with a cursor: no recursion, so deeply nested input cannot overflow the stack.
pub fn walk_node<'t>(root: Node<'t>, visitor: &mut impl Visitor<'t>) {
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        let descend = visitor.enter(node, Field(&cursor));
        if descend && cursor.goto_first_child() {
            continue;
        }
        visitor.leave(node);
        loop {
            if cursor.node() == root {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            visitor.leave(cursor.node());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_below_are_the_parents_from_the_top_down() {
        let document = crate::core::document::Document::new("m.py", "def f(x):\n    if x:\n        g(x)\n");
        let function = document.top_level_nodes().next().unwrap();
        let call = document.node_at(document.text().find("g(x)").unwrap()).unwrap();
        let call = std::iter::successors(Some(call), |node| node.parent()).find(|node| node.kind() == "call").unwrap();
        let climbed: Vec<Node> = std::iter::successors(call.parent(), |node| node.parent())
            .take_while(|node| node.id() != function.id())
            .collect();
        let mut expected: Vec<Node> = climbed.into_iter().rev().collect();
        expected.insert(0, function);
        assert_eq!(ancestors_below(function, call), expected);
        assert!(ancestors_below(call, function).is_empty(), "a node does not contain its ancestor");
    }

    #[test]
    fn kind_names_match_tree_sitters_including_errors() {
        let document = crate::core::document::Document::new("m.py", "async def f(:\n    x = [1,\nclass C: pass\n");
        struct Compare;
        impl<'t> Visitor<'t> for Compare {
            fn enter(&mut self, node: Node<'t>, _field: Field) -> bool {
                assert_eq!(node.kind_name(), node.kind());
                true
            }
            fn leave(&mut self, _node: Node<'t>) {}
        }
        assert!(document.has_syntax_error());
        document.walk(&mut Compare);
    }
    use crate::core::document::Document;

    struct Counter {
        entered: usize,
        left: usize,
        depth: usize,
        max_depth: usize,
    }

    impl<'t> Visitor<'t> for Counter {
        fn enter(&mut self, _node: Node<'t>, _field: Field) -> bool {
            self.entered += 1;
            self.depth += 1;
            self.max_depth = self.max_depth.max(self.depth);
            true
        }
        fn leave(&mut self, _node: Node<'t>) {
            self.left += 1;
            self.depth -= 1;
        }
    }

    #[test]
    fn walk_enters_and_leaves_every_node_once() {
        let doc = Document::new("x.py", "async def f(a, b=1):\n    return [x for x in g(a)]\n");
        let mut counter = Counter { entered: 0, left: 0, depth: 0, max_depth: 0 };
        doc.walk(&mut counter);
        assert_eq!(counter.entered, counter.left);
        assert_eq!(counter.depth, 0);
        assert!(counter.entered > 20);
    }

    #[test]
    fn walk_survives_deep_nesting() {
        let source = format!("x = {}1{}\n", "(".repeat(5000), ")".repeat(5000));
        let doc = Document::new("x.py", source);
        let mut counter = Counter { entered: 0, left: 0, depth: 0, max_depth: 0 };
        doc.walk(&mut counter);
        assert_eq!(counter.entered, counter.left);
        assert!(counter.max_depth > 1000);
    }

    #[test]
    fn async_functions_are_recognised() {
        let doc = Document::new("x.py", "async def a(): pass\ndef b(): pass\n");
        let kinds: Vec<bool> = doc.top_level_nodes().map(is_async_function).collect();
        assert_eq!(kinds, vec![true, false]);
    }
}
