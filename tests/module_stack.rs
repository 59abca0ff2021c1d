//! The library is a one-way stack of modules: each uses only the modules below it, never one
//! above it or beside it. Read from the sources: every `crate::module` a file names.

use std::path::Path;

/// Each top-level module with its level: a module may use modules of lower levels only.
const STACK: [(&str, u32); 10] = [
    ("proto", 0),
    ("model", 1),
    ("record", 2),
    ("dataset", 3),
    ("kafka", 4),
    ("state", 4),
    ("pipeline", 5),
    ("job", 6),
    ("app", 7),
    ("lib", 8),
];

fn level(module: &str) -> u32 {
    STACK
        .iter()
        .find(|(name, _)| *name == module)
        .unwrap_or_else(|| panic!("module `{module}` is not in the stack: place it"))
        .1
}

/// The source files of a top-level module (`src/<name>.rs` and everything under `src/<name>/`).
fn files(src: &Path, module: &str) -> Vec<std::path::PathBuf> {
    let single = src.join(format!("{module}.rs"));
    let mut found: Vec<_> = single.is_file().then_some(single).into_iter().collect();
    let mut pending: Vec<_> = Some(src.join(module))
        .filter(|directory| directory.is_dir())
        .into_iter()
        .collect();
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).expect("a module directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// The top-level modules a source text names as `crate::name`.
fn named_modules(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(at, _)| {
            text[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn no_module_uses_one_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut arrows_up = Vec::new();
    for (module, own) in STACK {
        for file in files(&src, module) {
            let text = std::fs::read_to_string(&file).expect("a source file");
            for used in named_modules(&text) {
                if used != module && level(&used) >= own {
                    arrows_up.push(format!("{} uses `crate::{used}`", file.display()));
                }
            }
        }
    }
    assert!(arrows_up.is_empty(), "{arrows_up:#?}");
}

#[test]
fn every_module_of_the_library_is_in_the_stack() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("an entry").path();
        let name = path.file_stem().expect("a name").to_string_lossy();
        level(&name);
    }
}
