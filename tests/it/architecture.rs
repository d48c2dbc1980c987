//! The shape rules of ARCHITECTURE.md, checked on the sources themselves: no circle of
//! dependencies between modules, no file over 600 lines, no function over 80 lines outside
//! test code, and `unsafe` only where the code talks to C or to the X server's shared memory.
//!
//! The scan is textual, not a compiler's: comments, strings and characters are blanked
//! first, then `crate::`, `super::` and `self::` paths are read as dependencies and braces
//! counted for function bodies. A path written relative to the current module with no such
//! prefix (`mesh::Mesh` inside `call`) is not seen; that is a parent naming its own child,
//! which is no circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// The only files where `unsafe` may appear: the OpenH264 bindings and X11 shared memory.
const UNSAFE_ALLOWED: &[&str] = &["src/media/h264.rs", "src/media/screen.rs"];

/// Files (`src/x.rs`) or functions (`src/x.rs::name`) allowed over the size limits, each with
/// its reason. ARCHITECTURE.md names the same list.
const SIZE_EXCEPTIONS: &[(&str, &str)] = &[];

/// One crate's sources: its name and its `src` directory relative to the workspace root.
const CRATES: &[(&str, &str)] = &[
    ("termmeet", "src"),
    ("termmeet-signaling", "signaling-server/src"),
];

/// A dependency's first sighting: where one module names another.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn modules_form_no_circle() {
    let mut found = Vec::new();
    for (name, dir) in CRATES {
        let files = sources(dir);
        let known: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(dir, f)).collect();
        let mut edges = Edges::new();
        for file in &files {
            if is_test_file(dir, file) {
                continue;
            }
            let code = without_test_code(&blank(&read(file)));
            let module = module_of(dir, file);
            let from = key(&module, &known);
            for (line, path) in paths(&code, &module) {
                let to = key(&path, &known);
                if from != to && !from.starts_with(&to) && !to.starts_with(&from) {
                    edges
                        .entry(label(&from))
                        .or_default()
                        .entry(label(&to))
                        .or_insert_with(|| format!("{}:{line}", relative(file)));
                }
            }
        }
        for cycle in cycles(&edges) {
            found.push(format!("{name}: {}", describe(&cycle, &edges)));
        }
    }
    assert!(
        found.is_empty(),
        "modules depend on each other in a circle (break it by moving the shared part down):\n{}",
        found.join("\n")
    );
}

#[test]
fn files_and_functions_stay_small() {
    let mut found = Vec::new();
    for (_, dir) in CRATES {
        for file in sources(dir) {
            let text = read(&file);
            let name = relative(&file);
            let lines = text.lines().count();
            if lines > MAX_FILE_LINES && !excepted(&name) {
                found.push(format!("{name}: {lines} lines (at most {MAX_FILE_LINES})"));
            }
            if is_test_file(dir, &file) {
                continue;
            }
            for f in long_functions(&without_test_code(&blank(&text))) {
                let what = format!("{name}::{}", f.name);
                if !excepted(&what) {
                    found.push(format!(
                        "{what} (line {}): {} lines (at most {MAX_FN_LINES})",
                        f.line, f.lines
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "too long (split by what the parts do, or add a reason to SIZE_EXCEPTIONS and \
         ARCHITECTURE.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn unsafe_only_in_the_ffi_files() {
    let mut found = Vec::new();
    for (_, dir) in CRATES {
        for file in sources(dir) {
            let name = relative(&file);
            if UNSAFE_ALLOWED.contains(&name.as_str()) {
                continue;
            }
            for line in unsafe_lines(&blank(&read(&file))) {
                found.push(format!("{name}:{line}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "`unsafe` outside {UNSAFE_ALLOWED:?}:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_size_exception_names_a_file_that_exists() {
    for (what, why) in SIZE_EXCEPTIONS {
        let file = what.split("::").next().unwrap_or(what);
        assert!(root().join(file).exists(), "{what}: no such file");
        assert!(!why.trim().is_empty(), "{what}: give the reason");
    }
}

fn excepted(what: &str) -> bool {
    SIZE_EXCEPTIONS.iter().any(|(w, _)| *w == what)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()))
}

fn relative(file: &Path) -> String {
    file.strip_prefix(root())
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

/// Every `.rs` file under `dir` (relative to the workspace root), sorted.
fn sources(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), &mut out);
    out.sort();
    out
}

/// Whether the file holds only tests: `tests.rs`, or anything under a `tests` directory.
fn is_test_file(dir: &str, file: &Path) -> bool {
    let inner = file.strip_prefix(root().join(dir)).unwrap_or(file);
    inner.file_name().is_some_and(|n| n == "tests.rs")
        || inner.components().any(|c| c.as_os_str() == "tests")
}

/// The module a file is: `src/call/mesh.rs` and `src/call/mesh/mod.rs` are `call::mesh`;
/// the crate roots (`lib.rs`, `main.rs`) and binaries under `bin/` are the root.
fn module_of(dir: &str, file: &Path) -> Vec<String> {
    let inner = file.strip_prefix(root().join(dir)).unwrap_or(file);
    let mut parts: Vec<String> = inner
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return Vec::new();
    }
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The first- or second-level module a path lands in: the longest of its first two
/// prefixes that is a module (`call::mesh::Mesh` is `call::mesh`, `ui::safe` is `ui`).
fn key(path: &[String], known: &BTreeSet<Vec<String>>) -> Vec<String> {
    for n in (1..=path.len().min(2)).rev() {
        if known.contains(&path[..n]) {
            return path[..n].to_vec();
        }
    }
    Vec::new()
}

fn label(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// `text` with the insides of comments, strings and character literals replaced by spaces,
/// lines kept, so that what is left is code.
fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                keep(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    keep(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&c, i) {
            c[i..end].iter().for_each(|&ch| keep(&mut out, ch));
            i = end;
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' && i + 1 < c.len() {
                    keep(&mut out, c[i]);
                    i += 1;
                }
                keep(&mut out, c[i]);
                i += 1;
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' && char_literal_end(&c, i).is_some() {
            let end = char_literal_end(&c, i).unwrap_or(i + 1);
            out.push('\'');
            c[i + 1..end - 1].iter().for_each(|&ch| keep(&mut out, ch));
            out.push('\'');
            i = end;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Where a raw string starting at `i` (`r"…"`, `r#"…"#`, `br"…"`) ends, past its closing
/// quote and hashes.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let start = if c[i] == 'b' { i + 1 } else { i };
    if c.get(start) != Some(&'r') || (i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')) {
        return None;
    }
    let mut j = start + 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

/// Where a character literal starting at `i` ends (past its closing quote), or `None` for a
/// lifetime (`'a`, `'static`).
fn char_literal_end(c: &[char], i: usize) -> Option<usize> {
    if c.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < c.len() && c[j] != '\'' {
            j += 1;
        }
        return Some(j + 1);
    }
    (c.get(i + 2) == Some(&'\'')).then_some(i + 3)
}

/// `code` with each `#[cfg(test)]` item (a module, a function, a `use`) blanked out.
fn without_test_code(code: &str) -> String {
    let mut out: Vec<char> = code.chars().collect();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + marker.len() <= out.len() {
        if out[i..i + marker.len()] != marker[..] {
            i += 1;
            continue;
        }
        let mut j = i + marker.len();
        while j < out.len() && out[j] != '{' && out[j] != ';' {
            j += 1;
        }
        if j < out.len() && out[j] == '{' {
            j = matching_brace(&out, j);
        }
        let len = out.len();
        for ch in out.iter_mut().take((j + 1).min(len)).skip(i) {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = j + 1;
    }
    out.into_iter().collect()
}

/// The index of the brace closing the one at `open` (or the last index when unclosed).
fn matching_brace(c: &[char], open: usize) -> usize {
    let mut depth = 0usize;
    for (j, &ch) in c.iter().enumerate().skip(open) {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    c.len().saturating_sub(1)
}

/// The paths in `code` that start at `crate`, `super` or `self`, resolved to where they
/// lead from `module`, each with its line; use trees (`crate::{a::b, c}`) give one per leaf.
fn paths(code: &str, module: &[String]) -> Vec<(usize, Vec<String>)> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    for (n, (line, word)) in tokens.iter().enumerate() {
        let base: Vec<String> = match word.as_str() {
            "crate" => Vec::new(),
            "super" | "self" => module.to_vec(),
            _ => continue,
        };
        let after_sep = n >= 1 && tokens[n - 1].1 == "::";
        if after_sep || tokens.get(n + 1).is_none_or(|t| t.1 != "::") {
            continue;
        }
        let mut leaves = Vec::new();
        use_tree(&tokens, n, base, &mut leaves);
        out.extend(leaves.into_iter().map(|p| (*line, p)));
    }
    out
}

/// Reads one path or use tree from `tokens[at]` onwards into `leaves`, each resolved
/// against `base` (`super` steps up from it).
fn use_tree(
    tokens: &[(usize, String)],
    mut at: usize,
    mut base: Vec<String>,
    leaves: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match tokens.get(at).map(|t| t.1.as_str()) {
            Some("super") => {
                base.pop();
            }
            Some("crate") | Some("self") => {}
            Some("{") => {
                at += 1;
                while tokens.get(at).is_some_and(|t| t.1 != "}") {
                    if tokens[at].1 == "," {
                        at += 1;
                        continue;
                    }
                    if tokens[at].1 == "as" {
                        at += 2;
                        continue;
                    }
                    at = use_tree(tokens, at, base.clone(), leaves);
                }
                return at + 1;
            }
            Some(word) if word.chars().all(|ch| ch.is_alphanumeric() || ch == '_') => {
                base.push(word.to_string());
            }
            _ => break,
        }
        if tokens.get(at + 1).is_some_and(|t| t.1 == "::") {
            at += 2;
        } else {
            at += 1;
            break;
        }
    }
    leaves.push(base);
    at
}

/// Words, `::` and single punctuation of `code`, each with its line number.
fn tokenize(code: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((line, c[start..i].iter().collect()));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((line, "::".into()));
            i += 2;
        } else {
            out.push((line, ch.to_string()));
            i += 1;
        }
    }
    out
}

/// Every circle in the graph, each once, as the modules in order (the first repeated last).
fn cycles(edges: &Edges) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        edges: &Edges,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flat_map(|m| m.keys()) {
            if let Some(pos) = stack.iter().position(|s| s == next) {
                let mut cycle = stack[pos..].to_vec();
                let least = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap_or(0);
                cycle.rotate_left(least);
                cycle.push(cycle[0].clone());
                found.insert(cycle);
            } else if !done.contains(next) {
                visit(next, edges, stack, done, found);
            }
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut found = BTreeSet::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if !done.contains(node) {
            visit(node, edges, &mut Vec::new(), &mut done, &mut found);
        }
    }
    found.into_iter().collect()
}

/// `a -> b (src/a.rs:3) -> a (src/b.rs:9)`: the circle with where each step is made.
fn describe(cycle: &[String], edges: &Edges) -> String {
    let mut out = cycle[0].clone();
    for pair in cycle.windows(2) {
        let at = edges
            .get(&pair[0])
            .and_then(|m| m.get(&pair[1]))
            .map_or("", String::as_str);
        out.push_str(&format!(" -> {} ({at})", pair[1]));
    }
    out
}

/// A function body's extent.
#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

/// The functions of `code` (already blanked) longer than the limit, from the line of `fn`
/// to the line of the closing brace.
fn long_functions(code: &str) -> Vec<Function> {
    functions(code)
        .into_iter()
        .filter(|f| f.lines > MAX_FN_LINES)
        .collect()
}

/// Every function with a body in `code`.
fn functions(code: &str) -> Vec<Function> {
    let c: Vec<char> = code.chars().collect();
    let line_at = |i: usize| 1 + c[..i].iter().filter(|&&ch| ch == '\n').count();
    let tokens_fn = word_positions(&c, "fn");
    let mut out = Vec::new();
    for at in tokens_fn {
        let mut j = at + 2;
        while j < c.len() && c[j].is_whitespace() {
            j += 1;
        }
        let start = j;
        while j < c.len() && (c[j].is_alphanumeric() || c[j] == '_') {
            j += 1;
        }
        if start == j {
            continue; // A function pointer type, `fn(u8) -> u8`.
        }
        let name: String = c[start..j].iter().collect();
        let mut depth = 0i32;
        while j < c.len() && !(depth == 0 && (c[j] == '{' || c[j] == ';')) {
            match c[j] {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        if j >= c.len() || c[j] == ';' {
            continue; // A declaration without a body, in a trait or `extern` block.
        }
        let end = matching_brace(&c, j);
        let (first, last) = (line_at(at), line_at(end));
        out.push(Function {
            name,
            line: first,
            lines: last - first + 1,
        });
    }
    out
}

/// Where `word` stands alone (not inside a longer identifier) in `c`.
fn word_positions(c: &[char], word: &str) -> Vec<usize> {
    let w: Vec<char> = word.chars().collect();
    let ident = |ch: Option<&char>| ch.is_some_and(|ch| ch.is_alphanumeric() || *ch == '_');
    (0..c.len().saturating_sub(w.len() - 1))
        .filter(|&i| c[i..i + w.len()] == w[..])
        .filter(|&i| {
            let before = i > 0 && ident(c.get(i - 1));
            let after = ident(c.get(i + w.len()));
            !before && !after
        })
        .collect()
}

/// The lines of `code` (already blanked) where the word `unsafe` appears.
fn unsafe_lines(code: &str) -> Vec<usize> {
    let c: Vec<char> = code.chars().collect();
    word_positions(&c, "unsafe")
        .into_iter()
        .map(|i| 1 + c[..i].iter().filter(|&&ch| ch == '\n').count())
        .collect()
}

mod parsing {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn comments_strings_and_chars_are_blanked_and_lifetimes_kept() {
        let code = "let a = \"crate::x {\"; // crate::y\nlet b = '{'; /* crate::z /* } */ */ f::<'a>(r#\"}\"#, '\\'', b\"{\")";
        let out = blank(code);
        assert!(!out.contains("crate"), "{out}");
        assert!(!out.contains('{') && !out.contains('}'), "{out}");
        assert!(out.contains("'a"), "{out}");
        assert_eq!(out.lines().count(), code.lines().count());
    }

    #[test]
    fn use_trees_give_one_path_per_leaf_resolved_from_the_module() {
        let module = strings(&["call", "driver"]);
        let got: Vec<Vec<String>> = paths(
            "use crate::{media::mic::Mic, ui};\nuse super::mesh::{Mesh as M, state::X};\nlet x = self::inner::f();\nuse other::crate_like;",
            &module,
        )
        .into_iter()
        .map(|(_, p)| p)
        .collect();
        assert_eq!(
            got,
            vec![
                strings(&["media", "mic", "Mic"]),
                strings(&["ui"]),
                strings(&["call", "mesh", "Mesh"]),
                strings(&["call", "mesh", "state", "X"]),
                strings(&["call", "driver", "inner", "f"]),
            ]
        );
    }

    #[test]
    fn super_super_climbs_twice() {
        let got = paths("use super::super::app::Action;", &strings(&["ui", "chat"]));
        assert_eq!(got, vec![(1, strings(&["app", "Action"]))]);
    }

    #[test]
    fn a_path_lands_in_its_first_or_second_level_module() {
        let known: BTreeSet<Vec<String>> = [
            vec![],
            strings(&["ui"]),
            strings(&["call"]),
            strings(&["call", "mesh"]),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            key(&strings(&["call", "mesh", "Mesh"]), &known),
            strings(&["call", "mesh"])
        );
        assert_eq!(key(&strings(&["ui", "safe"]), &known), strings(&["ui"]));
        assert_eq!(key(&strings(&["Error"]), &known), Vec::<String>::new());
    }

    #[test]
    fn test_code_is_left_out() {
        let code = "fn a() {}\n#[cfg(test)]\nmod tests {\n use crate::x;\n fn b() { {} }\n}\n#[cfg(test)]\nuse crate::y;\nfn c() {}\n";
        let out = without_test_code(code);
        assert!(!out.contains("crate") && !out.contains("fn b"), "{out}");
        assert!(out.contains("fn a") && out.contains("fn c"), "{out}");
    }

    #[test]
    fn functions_are_measured_from_fn_to_the_closing_brace() {
        let code = blank("fn short() { 1 }\ntrait T { fn decl(&self); }\nfn long(f: fn([u8; 2]) -> u8) {\n let s = \"}\";\n if x { y }\n}\n");
        let got = functions(&code);
        assert_eq!(
            got,
            vec![
                Function {
                    name: "short".into(),
                    line: 1,
                    lines: 1
                },
                Function {
                    name: "long".into(),
                    line: 3,
                    lines: 4
                },
            ]
        );
    }

    #[test]
    fn circles_are_found_once_each() {
        let mut edges = Edges::new();
        for (a, b) in [
            ("a", "b"),
            ("b", "c"),
            ("c", "a"),
            ("c", "d"),
            ("d", "c"),
            ("e", "a"),
        ] {
            edges
                .entry(a.into())
                .or_default()
                .insert(b.into(), String::new());
        }
        let got = cycles(&edges);
        assert_eq!(
            got,
            vec![strings(&["a", "b", "c", "a"]), strings(&["c", "d", "c"])]
        );
    }

    #[test]
    fn unsafe_is_found_as_a_word_only() {
        let code = blank("#![forbid(unsafe_code)]\n// unsafe here is prose\nunsafe fn f() {}\nlet s = \"unsafe\";\n");
        assert_eq!(unsafe_lines(&code), vec![3]);
    }
}
