fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let files = codex_app_server_codegen::generate(&root.join("schema")).unwrap_or_else(|e| panic!("{e}"));
    for f in files {
        let p = root.join("sdk/src/generated").join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f.contents).unwrap();
    }
}
