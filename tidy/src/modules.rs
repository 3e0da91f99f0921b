//! A crate's modules as files, what each file imports from the others, and the import cycles.
//!
//! A file is a module (`src/lib.rs` is the crate root `""`, `src/store/mod.rs` is `store`,
//! `src/store/writer.rs` is `store::writer`); modules written inline in a file (`mod tests { .. }`)
//! belong to their file.
//! A file imports a module when it names it in a `use` (a re-export included) or in a path in its
//! code (`crate::store::Store`, `super::records::SessionRow`): the edge goes to the longest prefix
//! of the path that is a file.
//! Declaring a child (`mod writer;`) is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

use crate::files_below;

/// A crate's module files and what each imports.
#[derive(Debug, Default)]
pub struct ModuleGraph {
    /// Module path to file.
    pub files: BTreeMap<String, PathBuf>,
    /// Module path to the modules it imports (never itself).
    pub imports: BTreeMap<String, BTreeSet<String>>,
}

impl ModuleGraph {
    /// Reads the crate whose sources are in `src` (with `lib.rs` as the root).
    pub fn of_crate(src: &Path) -> Result<ModuleGraph, String> {
        let mut graph = ModuleGraph::default();
        for file in files_below(src, ".rs") {
            if let Some(module) = module_of(src, &file) {
                graph.files.insert(module, file);
            }
        }
        let known: BTreeSet<String> = graph.files.keys().cloned().collect();
        for (module, file) in &graph.files {
            let text = std::fs::read_to_string(file)
                .map_err(|error| format!("{}: {error}", file.display()))?;
            let parsed =
                syn::parse_file(&text).map_err(|error| format!("{}: {error}", file.display()))?;
            let mut collector = Imports {
                file_module: split(module),
                inline: Vec::new(),
                known: &known,
                found: BTreeSet::new(),
            };
            collector.visit_file(&parsed);
            collector.found.remove(module);
            graph.imports.insert(module.clone(), collector.found);
        }
        Ok(graph)
    }

    /// Each import cycle once, as the modules on it in order (the first again at the end).
    pub fn cycles(&self) -> Vec<Vec<String>> {
        strongly_connected(&self.imports)
            .into_iter()
            .filter(|component| component.len() > 1)
            .map(|component| self.cycle_within(&component))
            .collect()
    }

    /// One cycle through the component's first module, by breadth-first search.
    fn cycle_within(&self, component: &BTreeSet<String>) -> Vec<String> {
        let Some(start) = component.iter().next() else {
            return Vec::new();
        };
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut frontier = vec![start.as_str()];
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for module in frontier {
                for target in self.imports.get(module).into_iter().flatten() {
                    if !component.contains(target) {
                        continue;
                    }
                    if target == start {
                        let mut cycle = vec![start.clone()];
                        let mut at = module;
                        while at != start.as_str() {
                            cycle.push(at.to_owned());
                            at = came_from.get(at).copied().unwrap_or(start.as_str());
                        }
                        cycle.push(start.clone());
                        cycle.reverse();
                        return cycle;
                    }
                    if !came_from.contains_key(target.as_str()) {
                        came_from.insert(target, module);
                        next.push(target.as_str());
                    }
                }
            }
            frontier = next;
        }
        component.iter().cloned().collect()
    }
}

/// The module a file is, relative to the crate's `src`; `None` for files that are not modules of
/// the library (`main.rs`, `bin/`).
pub fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = relative
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    if parts.first().is_some_and(|first| first == "bin") || (parts.is_empty() && last == "main.rs")
    {
        return None;
    }
    match last.as_str() {
        "lib.rs" if parts.is_empty() => {}
        "mod.rs" => {}
        name => parts.push(name.strip_suffix(".rs")?.to_owned()),
    }
    Some(parts.join("::"))
}

fn split(module: &str) -> Vec<String> {
    if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_owned).collect()
    }
}

struct Imports<'a> {
    /// The file's own module.
    file_module: Vec<String>,
    /// Inline modules entered within the file.
    inline: Vec<String>,
    known: &'a BTreeSet<String>,
    found: BTreeSet<String>,
}

impl Imports<'_> {
    /// The module the current item is in: the file's, then any inline ones.
    fn here(&self) -> Vec<String> {
        let mut here = self.file_module.clone();
        here.extend(self.inline.iter().cloned());
        here
    }

    /// Records the module file that `segments` (a path as written) lands in, if it is one of the
    /// crate's.
    fn record(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut absolute: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.here(),
            "super" => self.here(),
            _ => {
                // A child of the file's module, named without `self::`.
                if !self.inline.is_empty() {
                    return;
                }
                let mut child = self.file_module.clone();
                child.push(first.clone());
                if !self.known.contains(&child.join("::")) {
                    return;
                }
                self.file_module.clone()
            }
        };
        let mut rest = segments;
        if matches!(first.as_str(), "crate" | "self") {
            rest = &segments[1..];
        }
        while let Some(segment) = rest.first() {
            if segment != "super" {
                break;
            }
            absolute.pop();
            rest = &rest[1..];
        }
        absolute.extend(rest.iter().filter(|segment| *segment != "self").cloned());
        // The longest prefix that is a file.
        for length in (0..=absolute.len()).rev() {
            let candidate = absolute[..length].join("::");
            if self.known.contains(&candidate) {
                self.found.insert(candidate);
                return;
            }
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                prefix.push(name.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Rename(rename) => {
                prefix.push(rename.ident.to_string());
                self.record(prefix);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.record(prefix),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Imports<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if let Some((_, items)) = &item.content {
            self.inline.push(item.ident.to_string());
            for item in items {
                self.visit_item(item);
            }
            self.inline.pop();
        }
    }

    /// `pub(in crate::x)` names where an item is visible, not what it uses.
    fn visit_visibility(&mut self, _visibility: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path
            .segments
            .iter()
            .map(|segment| segment.ident.to_string())
            .collect();
        if segments.len() > 1 {
            self.record(&segments);
        }
        syn::visit::visit_path(self, path);
    }
}

/// Tarjan's strongly connected components of a graph given as adjacency sets.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        components: Vec<BTreeSet<String>>,
    }

    fn connect<'g>(state: &mut State<'g>, node: &'g str) {
        state.index.insert(node, state.next);
        state.low.insert(node, state.next);
        state.next += 1;
        state.stack.push(node);
        state.on_stack.insert(node);
        let graph = state.graph;
        for target in graph.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                connect(state, target);
                let low = state.low[target].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.index[target].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = BTreeSet::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.insert(member.to_owned());
                if member == node {
                    break;
                }
            }
            state.components.push(component);
        }
    }

    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            connect(&mut state, node);
        }
    }
    state.components
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> (tempfile_free::Folder, ModuleGraph) {
        let folder = tempfile_free::Folder::new();
        for (path, text) in files {
            let path = folder.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let graph = ModuleGraph::of_crate(&folder.0).unwrap();
        (folder, graph)
    }

    /// A folder of its own under the system's temporary folder, removed when dropped (no crate
    /// for so little).
    mod tempfile_free {
        pub struct Folder(pub std::path::PathBuf);

        impl Folder {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let path = std::env::temp_dir().join(format!(
                    "tidy-{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
        }

        impl Drop for Folder {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn files_are_modules() {
        let src = Path::new("/x/src");
        assert_eq!(
            module_of(src, Path::new("/x/src/lib.rs")).as_deref(),
            Some("")
        );
        assert_eq!(
            module_of(src, Path::new("/x/src/store/mod.rs")).as_deref(),
            Some("store")
        );
        assert_eq!(
            module_of(src, Path::new("/x/src/store/writer.rs")).as_deref(),
            Some("store::writer")
        );
        assert_eq!(module_of(src, Path::new("/x/src/main.rs")), None);
    }

    #[test]
    fn a_parent_and_a_child_importing_each_other_are_a_cycle() {
        let (_folder, graph) = crate_of(&[
            ("lib.rs", "//! x\npub mod store;\n"),
            (
                "store/mod.rs",
                "//! x\nmod writer;\npub use writer::Writer;\npub struct Session;\n",
            ),
            (
                "store/writer.rs",
                "//! x\nuse super::Session;\npub struct Writer;\n",
            ),
        ]);
        assert_eq!(
            graph.cycles(),
            vec![vec![
                "store".to_owned(),
                "store::writer".to_owned(),
                "store".to_owned()
            ]]
        );
    }

    #[test]
    fn siblings_through_paths_in_code_and_tests_of_their_own_file_are_no_cycle() {
        let (_folder, graph) = crate_of(&[
            ("lib.rs", "//! x\npub mod a;\npub mod b;\n"),
            (
                "a.rs",
                "//! x\npub fn f() { crate::b::g() }\n#[cfg(test)] mod tests { use super::*; }\n",
            ),
            ("b.rs", "//! x\npub fn g() {}\n"),
        ]);
        assert!(graph.cycles().is_empty());
        assert_eq!(
            graph.imports["a"].iter().collect::<Vec<_>>(),
            vec!["b"],
            "a path in code is an import"
        );
        let (_folder, graph) = crate_of(&[
            ("lib.rs", "//! x\npub mod a;\npub mod b;\n"),
            ("a.rs", "//! x\npub fn f() { crate::b::g() }\n"),
            ("b.rs", "//! x\npub fn g() { super::a::f() }\n"),
        ]);
        assert_eq!(graph.cycles().len(), 1);
    }
}
