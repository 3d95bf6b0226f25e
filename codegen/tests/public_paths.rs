//! One public path per item (`sdk/ARCHITECTURE.md`, "The public surface"): resolves the
//! SDK's module tree from its source — `mod`, `pub use` (renames and globs included),
//! every cargo feature on, `#[cfg(test)]` and `#[doc(hidden)]` left out — lists every public
//! path, and fails when one item is reachable at two of them.
//!
//! `PUBLIC_PATHS=print cargo test -p codex-driver-codegen --test public_paths -- --nocapture`
//! prints the list. Items of other crates re-exported by a glob (the generated `types`)
//! are listed as the glob: their own paths are that crate's business.

#[allow(dead_code)] // the file walker is for the other checks
mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Public paths that may reach the same item: none.
const ALLOWED_DUPLICATES: &[&str] = &[];

#[test]
fn every_public_item_has_one_path() {
    let tree = Tree::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/src/lib.rs"));
    let paths = tree.public_paths();
    if std::env::var("PUBLIC_PATHS").as_deref() == Ok("print") {
        for (path, target) in &paths {
            println!("{path}  ->  {target}");
        }
    }
    let mut by_target: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (path, target) in &paths {
        by_target.entry(target).or_default().push(path);
    }
    let duplicates: Vec<String> = by_target
        .iter()
        .filter(|(_, paths)| paths.len() > 1)
        .filter(|(_, paths)| !paths.iter().all(|p| ALLOWED_DUPLICATES.contains(p)))
        .map(|(target, paths)| format!("{target}: {}", paths.join(", ")))
        .collect();
    assert!(
        duplicates.is_empty(),
        "items reachable at more than one public path (give each one home: the crate root for the \
         front door, else its module):\n  {}",
        duplicates.join("\n  ")
    );
    // The walk saw the surface: the front door and a few modules' items.
    for expected in ["Codex", "Thread", "Error", "rpc::Connection"] {
        assert!(paths.contains_key(&format!("codex_driver::{expected}")), "{expected} not found");
    }
    assert_eq!(paths.keys().filter(|p| p.starts_with("codex_driver::types::* (")).count(), 3, "the type crates' globs");
}

/// The resolver finds duplicates through renames, globs and module re-exports.
#[test]
fn the_resolver_sees_every_way_to_a_second_path() {
    let dir = tempdir();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "lib.rs",
        "pub mod a; mod b; pub use a::A; pub use b::*; pub use a::Renamed as Other; \
         pub mod c { pub use super::a as again; pub(crate) struct Hidden; } \
         #[cfg(test)] pub mod t { pub use super::a::A; } \
         #[cfg(all(test, unix))] pub mod u { pub use super::a::A; } \
         #[doc(hidden)] pub use a::Renamed; \
         /// Not hidden: a doc that says hidden.\n pub struct Shown; \
         pub mod ext { pub use other::types::*; } pub use other::types::Thing; \
         #[path = \"elsewhere.rs\"] pub mod moved;",
    );
    write("a.rs", "pub struct A; pub struct Renamed; pub(crate) struct Private;");
    write("b.rs", "pub fn f() {} pub fn Shown() {} pub use crate::a::A as AlsoA;");
    write("elsewhere.rs", "pub struct Moved;");
    let paths = Tree::load(&dir.join("lib.rs")).public_paths();
    let listed: Vec<String> = paths.iter().map(|(p, t)| format!("{p}={t}")).collect();
    assert_eq!(
        listed,
        [
            "codex_driver::A=a::A",
            "codex_driver::AlsoA=a::A",
            "codex_driver::Other=a::Renamed",
            "codex_driver::Shown=Shown",
            "codex_driver::Thing=other::types::Thing",
            "codex_driver::a=a",
            "codex_driver::a::A=a::A",
            "codex_driver::a::Renamed=a::Renamed",
            "codex_driver::c=c",
            "codex_driver::c::again=a",
            "codex_driver::ext=ext",
            "codex_driver::ext::* (other::types)=other::types::*",
            "codex_driver::ext::Thing=other::types::Thing",
            "codex_driver::f=b::f",
            "codex_driver::moved=moved",
            "codex_driver::moved::Moved=moved::Moved",
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("public-paths-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One name in a module.
#[derive(Clone, Debug)]
enum Entry {
    /// An item defined here (struct, enum, fn, trait, type, const, static).
    Item,
    /// A child module.
    Mod(usize),
    /// `use path as name`.
    Use(Vec<String>),
    /// `use path::*`.
    Glob(Vec<String>),
}

#[derive(Clone, Debug)]
struct Named {
    name: String,
    public: bool,
    entry: Entry,
}

struct Module {
    /// The path from the crate root (`""` for the root).
    path: String,
    parent: Option<usize>,
    names: Vec<Named>,
}

/// Where a path leads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Item(String),
    Mod(usize),
    /// Something of another crate (or behind its glob).
    External(String),
}

struct Tree {
    modules: Vec<Module>,
}

impl Tree {
    fn load(lib: &Path) -> Tree {
        let mut tree = Tree { modules: Vec::new() };
        let file = syn::parse_file(&std::fs::read_to_string(lib).unwrap()).unwrap();
        tree.add_module(String::new(), None, &file.items, lib.parent().unwrap(), lib.parent().unwrap());
        tree
    }

    /// Adds a module of `items`, whose child modules' files are under `dir` and whose
    /// `include!`s are relative to `file_dir`.
    fn add_module(
        &mut self,
        path: String,
        parent: Option<usize>,
        items: &[syn::Item],
        dir: &Path,
        file_dir: &Path,
    ) -> usize {
        let id = self.modules.len();
        self.modules.push(Module { path: path.clone(), parent, names: Vec::new() });
        let mut included = Vec::new();
        for item in items {
            if let syn::Item::Macro(m) = item {
                if m.mac.path.is_ident("include") {
                    let file: syn::LitStr = m.mac.parse_body().unwrap();
                    let text = std::fs::read_to_string(file_dir.join(file.value())).unwrap();
                    included.extend(syn::parse_file(&text).unwrap().items);
                }
            }
        }
        for item in items.iter().chain(&included) {
            let attrs = item_attrs(item);
            if sources::is_cfg_test(attrs) {
                continue;
            }
            let hidden = attrs
                .iter()
                .any(|a| a.path().is_ident("doc") && a.parse_args::<syn::Path>().is_ok_and(|p| p.is_ident("hidden")));
            let mut add = |name: String, vis: &syn::Visibility, entry: Entry| {
                let public = matches!(vis, syn::Visibility::Public(_)) && !hidden;
                self.modules[id].names.push(Named { name, public, entry });
            };
            match item {
                syn::Item::Struct(i) => add(i.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Enum(i) => add(i.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Union(i) => add(i.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Fn(i) => add(i.sig.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Trait(i) => add(i.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Type(i) => add(i.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Const(i) => add(i.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Static(i) => add(i.ident.to_string(), &i.vis, Entry::Item),
                syn::Item::Use(u) => {
                    let mut uses = Vec::new();
                    flatten_use(&u.tree, &mut Vec::new(), &mut uses);
                    for (name, entry) in uses {
                        add(name, &u.vis, entry);
                    }
                }
                syn::Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let child_path = if path.is_empty() { name.clone() } else { format!("{path}::{name}") };
                    let child_dir = dir.join(&name);
                    let child = match &m.content {
                        Some((_, items)) => self.add_module(child_path, Some(id), items, &child_dir, file_dir),
                        None => {
                            // `#[path = "…"]` (relative to this file's directory), else the
                            // usual `name.rs` or `name/mod.rs`.
                            let explicit = m.attrs.iter().find(|a| a.path().is_ident("path")).map(|a| {
                                let syn::Meta::NameValue(nv) = &a.meta else { panic!("#[path] without a value") };
                                let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(path), .. }) = &nv.value else {
                                    panic!("#[path] is not a string")
                                };
                                file_dir.join(path.value())
                            });
                            let file = explicit
                                .into_iter()
                                .chain([dir.join(format!("{name}.rs")), child_dir.join("mod.rs")])
                                .find(|f| f.is_file())
                                .unwrap_or_else(|| panic!("no file for `mod {name}` in {}", dir.display()));
                            let parsed = syn::parse_file(&std::fs::read_to_string(&file).unwrap()).unwrap();
                            self.add_module(child_path, Some(id), &parsed.items, &child_dir, file.parent().unwrap())
                        }
                    };
                    let vis = m.vis.clone();
                    let public = matches!(vis, syn::Visibility::Public(_)) && !hidden;
                    self.modules[id].names.push(Named { name, public, entry: Entry::Mod(child) });
                }
                _ => {}
            }
        }
        id
    }

    /// What `name` means in module `m` (any visibility: a `use` may name private items
    /// of its own crate).
    fn lookup(&self, m: usize, name: &str, depth: usize) -> Option<Target> {
        self.lookup_in(m, name, depth, true)
    }

    /// [`lookup`](Self::lookup), through the module's globs when `globs` says so.
    fn lookup_in(&self, m: usize, name: &str, depth: usize, globs: bool) -> Option<Target> {
        assert!(depth < 64, "a `use` cycle at {name}");
        let module = &self.modules[m];
        if let Some(named) = module.names.iter().find(|n| n.name == name) {
            return Some(match &named.entry {
                Entry::Item => Target::Item(join(&module.path, name)),
                Entry::Mod(child) => Target::Mod(*child),
                // `use other_crate;`: the name is the crate's.
                Entry::Use(path) if path.len() == 1 && path[0] == name => Target::External(name.to_owned()),
                Entry::Use(path) => self.resolve(m, path, depth + 1),
                Entry::Glob(_) => unreachable!("globs have no name"),
            });
        }
        for named in module.names.iter().filter(|_| globs) {
            if let Entry::Glob(path) = &named.entry {
                match self.resolve(m, path, depth + 1) {
                    Target::Mod(t) => {
                        if let Some(found) = self.lookup(t, name, depth + 1) {
                            return Some(found);
                        }
                    }
                    Target::External(glob) => return Some(Target::External(format!("{glob}::{name}"))),
                    Target::Item(_) => {}
                }
            }
        }
        None
    }

    /// What `path`, written in module `m`, leads to.
    fn resolve(&self, m: usize, path: &[String], depth: usize) -> Target {
        let (mut at, rest) = match path[0].as_str() {
            "crate" => (Target::Mod(0), &path[1..]),
            "self" => (Target::Mod(m), &path[1..]),
            "super" => (Target::Mod(self.modules[m].parent.expect("super of the root")), &path[1..]),
            // The first segment is a name of this module or a crate (a glob's names do not
            // count here: that is how a glob's own path is read).
            first => match self.lookup_in(m, first, depth, false) {
                Some(t) => (t, &path[1..]),
                None => (Target::External(first.to_owned()), &path[1..]),
            },
        };
        for segment in rest {
            at = match at {
                Target::Mod(module) if segment == "super" => Target::Mod(self.modules[module].parent.unwrap()),
                Target::Mod(module) => self
                    .lookup(module, segment, depth)
                    .unwrap_or_else(|| panic!("`{}` not found in `{}`", segment, self.modules[module].path)),
                Target::External(p) => Target::External(format!("{p}::{segment}")),
                Target::Item(p) => Target::Item(format!("{p}::{segment}")),
            };
        }
        at
    }

    /// Every public path from the crate root, with the item it reaches (named by where it
    /// is defined).
    fn public_paths(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut walked = BTreeSet::new();
        self.walk(0, "codex_driver", &mut out, &mut walked);
        // An item of another crate that a public glob re-exports is also at the glob's
        // path: an explicit re-export of it elsewhere is a second path.
        let globs: Vec<(String, String)> = out
            .iter()
            .filter_map(|(path, target)| {
                let at = path.split_once("::* (")?.0;
                Some((at.to_owned(), target.strip_suffix("::*")?.to_owned()))
            })
            .collect();
        let implied: Vec<(String, String)> = out
            .values()
            .flat_map(|target| {
                globs.iter().filter_map(move |(at, glob)| {
                    let name = target.strip_prefix(glob.as_str())?.strip_prefix("::")?;
                    (name != "*").then(|| (format!("{at}::{name}"), target.clone()))
                })
            })
            .collect();
        out.extend(implied);
        out
    }

    fn walk(&self, m: usize, at: &str, out: &mut BTreeMap<String, String>, walked: &mut BTreeSet<usize>) {
        walked.insert(m);
        for named in self.modules[m].names.iter().filter(|n| n.public) {
            match &named.entry {
                Entry::Glob(path) => match self.resolve(m, path, 0) {
                    Target::Mod(t) => {
                        let own: BTreeSet<&str> = self.modules[m].names.iter().map(|n| n.name.as_str()).collect();
                        for inner in self.public_names(t).into_iter().filter(|n| !own.contains(n.as_str())) {
                            let target = self.lookup(t, &inner, 0).unwrap();
                            self.record(&format!("{at}::{inner}"), target, out, walked);
                        }
                    }
                    Target::External(glob) => {
                        out.insert(format!("{at}::* ({glob})"), format!("{glob}::*"));
                    }
                    Target::Item(_) => {}
                },
                Entry::Item => {
                    out.insert(format!("{at}::{}", named.name), join(&self.modules[m].path, &named.name));
                }
                Entry::Mod(child) => self.record(&format!("{at}::{}", named.name), Target::Mod(*child), out, walked),
                Entry::Use(path) => {
                    let target = self.resolve(m, path, 0);
                    self.record(&format!("{at}::{}", named.name), target, out, walked);
                }
            }
        }
    }

    /// The public names of module `m`, globs expanded.
    fn public_names(&self, m: usize) -> Vec<String> {
        let mut names = Vec::new();
        for named in self.modules[m].names.iter().filter(|n| n.public) {
            match &named.entry {
                Entry::Glob(path) => {
                    if let Target::Mod(t) = self.resolve(m, path, 0) {
                        names.extend(self.public_names(t));
                    }
                }
                _ => names.push(named.name.clone()),
            }
        }
        names
    }

    fn record(&self, path: &str, target: Target, out: &mut BTreeMap<String, String>, walked: &mut BTreeSet<usize>) {
        match target {
            Target::Mod(module) => {
                out.insert(path.to_owned(), self.modules[module].path.clone());
                if !walked.contains(&module) {
                    self.walk(module, path, out, walked);
                }
            }
            Target::Item(item) | Target::External(item) => {
                out.insert(path.to_owned(), item);
            }
        }
    }
}

fn join(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.to_owned()
    } else {
        format!("{module}::{name}")
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        syn::Item::Mod(i) => &i.attrs,
        _ => &[],
    }
}

/// The names a `use` tree brings in: `(name, Use(path))` or `("", Glob(path))`.
fn flatten_use(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Entry)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push((prefix.last().unwrap().clone(), Entry::Use(prefix.clone())));
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push((name, Entry::Use(path)));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push((r.rename.to_string(), Entry::Use(path)));
        }
        syn::UseTree::Glob(_) => out.push((String::new(), Entry::Glob(prefix.clone()))),
        syn::UseTree::Group(g) => {
            for item in &g.items {
                flatten_use(item, prefix, out);
            }
        }
    }
}
