"""Seeds the fuzz corpora from the fixtures: Python files for the analysis targets, and for the LSP target one
JSON-RPC message per line (open, edits, code actions) built around each fixture's text."""
import json
import pathlib

HERE = pathlib.Path(__file__).parent
FIXTURES = sorted((HERE.parent / "fixtures").rglob("*.py"))


def write(target, name, data):
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def lsp_session(text):
    uri = "file:///fuzz/seed.py"
    lines = text.count("\n") + 1
    messages = [
        {"jsonrpc": "2.0", "method": "textDocument/didOpen",
         "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}},
        {"jsonrpc": "2.0", "method": "textDocument/didChange",
         "params": {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
             {"range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 4}}, "text": "  x("}]}},
        {"jsonrpc": "2.0", "id": 1, "method": "textDocument/codeAction",
         "params": {"textDocument": {"uri": uri},
                    "range": {"start": {"line": 0, "character": 0}, "end": {"line": lines, "character": 0}},
                    "context": {"diagnostics": [], "only": ["quickfix", "source.fixAll.asynclint"]}}},
        {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
         "params": {"settings": {"asynclint": {"select": ["AL1"], "severity": {"AL101": "hint"}}}}},
        {"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}},
    ]
    return "\n".join(json.dumps(message) for message in messages).encode()


for fixture in FIXTURES:
    data = fixture.read_bytes()
    name = "-".join(fixture.relative_to(HERE.parent / "fixtures").parts)
    for target in ("analyze", "fix_all", "incremental_edits"):
        write(target, name, data)
    write("lsp_messages", name, lsp_session(data.decode()))
