//! Prints what `load_str` makes of a file: `cargo run -p portico-model --example check_file -- FILE`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check_file FILE");
        std::process::exit(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let loaded = portico_model::load_str(path.as_ref(), &text);
    for doc in &loaded.documents {
        println!("{}: {}", doc.location, doc.object.key());
    }
    for (kind, location) in &loaded.skipped {
        println!("{location}: skipped {kind}");
    }
    for err in &loaded.errors {
        println!("{err}");
    }
}
