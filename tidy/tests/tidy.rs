//! The absences `ARCHITECTURE.md` states, checked: each test names the claim it keeps true and, when
//! it fails, where the code breaks it.
//! Each rule is a function over the sources, so `tidy/src` tests it on small made-up crates too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tidy::modules::ModuleGraph;
use tidy::source::Tokens;
use tidy::{files_below, relative, repository_root, CRATES};

/// Fails with every finding, one a line.
fn assert_none(claim: &str, findings: Vec<String>) {
    assert!(
        findings.is_empty(),
        "ARCHITECTURE.md says: {claim}\nbut:\n  {}",
        findings.join("\n  ")
    );
}

/// The Rust files of the crates' sources, tests and examples.
fn rust_files() -> Vec<PathBuf> {
    let root = repository_root();
    let mut files = Vec::new();
    for name in CRATES {
        for part in ["src", "tests", "examples"] {
            files.extend(files_below(&root.join(name).join(part), ".rs"));
        }
    }
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn tokens(path: &Path) -> Tokens {
    Tokens::of(&read(path)).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The file's tokens without its `#[cfg(test)]` items: what ships.
fn shipped(path: &Path) -> Tokens {
    Tokens::of_shipped(&read(path)).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The files of `folder` (relative to the repository) whose path, relative to it, is not in
/// `except` (file names, or folders ending with `/`).
fn sources(folder: &str, except: &[&str]) -> Vec<(String, PathBuf)> {
    let base = repository_root().join(folder);
    files_below(&base, ".rs")
        .into_iter()
        .map(|file| (relative(&file, &base), file))
        .filter(|(name, _)| {
            !except.iter().any(|skip| {
                if skip.ends_with('/') {
                    name.starts_with(skip)
                } else {
                    name == skip
                }
            })
        })
        .collect()
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let root = repository_root();
    let findings = rust_files()
        .into_iter()
        .filter(|file| !read(file).starts_with("//!"))
        .map(|file| format!("{} does not start with a `//!` doc", relative(&file, &root)))
        .collect();
    assert_none("no file lacks a `//!` doc", findings);
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = repository_root();
    let mut findings = Vec::new();
    for name in CRATES {
        let src = root.join(name).join("src");
        if !src.join("lib.rs").exists() {
            continue;
        }
        let graph = ModuleGraph::of_crate(&src).unwrap();
        for cycle in graph.cycles() {
            let shown: Vec<String> = cycle
                .iter()
                .map(|module| {
                    if module.is_empty() {
                        "(crate root)".to_owned()
                    } else {
                        module.clone()
                    }
                })
                .collect();
            findings.push(format!("{name}: {}", shown.join(" -> ")));
        }
    }
    assert_none(
        "no module imports a module that imports it back, in any crate",
        findings,
    );
}

#[test]
fn the_skills_domain_knows_no_serde_sql_or_http() {
    let mut findings = Vec::new();
    for (name, file) in sources("skill/src/domain", &[]) {
        let tokens = tokens(&file);
        for word in [
            "serde",
            "Serialize",
            "Deserialize",
            "serde_json",
            "sqlx",
            "rusqlite",
            "actix_web",
            "reqwest",
            "hyper",
        ] {
            for line in tokens.lines_of_word(word) {
                findings.push(format!("skill/src/domain/{name}:{line} names `{word}`"));
            }
        }
    }
    assert_none(
        "`skill/src/domain/` names no serde, SQL or HTTP crate",
        findings,
    );
}

#[test]
fn only_the_skills_live_chat_adapter_knows_the_live_chat_contract() {
    let allowed = ["livechat/", "routes/", "configuration.rs"];
    let mut findings = Vec::new();
    for (name, file) in sources("skill/src", &allowed) {
        for line in tokens(&file).lines_of_word("livechat_contract") {
            findings.push(format!("skill/src/{name}:{line} names `livechat_contract`"));
        }
    }
    assert_none(
        "no module of the skill but `livechat/` knows the live chat's JSON, URLs or signatures; `routes/` takes only the webhook's path and the JSON media type from the contract, and `configuration.rs` its defaults",
        findings,
    );
}

/// Field names and values of the Bot Framework's JSON that no other module may write as JSON.
const BOT_FRAMEWORK_WORDS: [&str; 12] = [
    "serviceUrl",
    "replyToId",
    "channelId",
    "endOfConversation",
    "textFormat",
    "relatesTo",
    "deliveryMode",
    "expectReplies",
    "channelData",
    "conversationUpdate",
    "completedSuccessfully",
    "BadArgument",
];

/// `protocol/`'s types of the Bot Framework's JSON.
const BOT_FRAMEWORK_TYPES: [&str; 6] = [
    "activity",
    "Activity",
    "ChannelAccount",
    "ConversationAccount",
    "ConversationReference",
    "ExpectedReplies",
];

#[test]
fn only_the_skills_protocol_knows_bot_framework_json() {
    let mut findings = Vec::new();
    for (name, file) in sources("skill/src", &["protocol/"]) {
        let tokens = shipped(&file);
        for literal in &tokens.literals {
            for word in BOT_FRAMEWORK_WORDS {
                // The JSON itself: the name alone, or quoted inside JSON text; prose that names a
                // field for a person (a log line, an error) is not the shape.
                if literal.value == word || literal.value.contains(&format!("\"{word}\"")) {
                    findings.push(format!(
                        "skill/src/{name}:{} writes the Bot Framework's `{word}`",
                        literal.line
                    ));
                }
            }
        }
        for pair in tokens.words.windows(2) {
            if pair[0].text == "protocol" && BOT_FRAMEWORK_TYPES.contains(&pair[1].text.as_str()) {
                findings.push(format!(
                    "skill/src/{name}:{} uses `protocol::{}`",
                    pair[1].line, pair[1].text
                ));
            }
        }
    }
    assert_none(
        "no module of the skill but `protocol/` writes Bot Framework JSON or uses its types",
        findings,
    );
}

/// The first word of a statement, as the stores write them.
fn is_sql(text: &str) -> bool {
    let text = text.trim_start();
    ["SELECT ", "INSERT ", "UPDATE ", "DELETE ", "WITH "]
        .iter()
        .any(|keyword| text.starts_with(keyword))
}

#[test]
fn every_statement_is_written_once_in_its_stores_sql_module() {
    let places: [(&str, &[&str]); 2] = [
        ("skill/src", &["store/sql.rs", "store/dialect.rs"]),
        ("contoso-livechat/src", &["store/sql.rs"]),
    ];
    let mut findings = Vec::new();
    for (folder, allowed) in places {
        for (name, file) in sources(folder, allowed) {
            for literal in shipped(&file).literals {
                if is_sql(&literal.value) {
                    findings.push(format!("{folder}/{name}:{} holds SQL", literal.line));
                }
            }
        }
    }
    assert_none(
        "no statement of a store is written outside its `store/sql.rs` (and the skill's `store/dialect.rs`)",
        findings,
    );
}

#[test]
fn both_services_route_with_the_contracts_paths() {
    let mut findings = Vec::new();
    for folder in ["skill/src", "contoso-livechat/src"] {
        for (name, file) in sources(folder, &[]) {
            for literal in tokens(&file).literals {
                let value = literal.value.as_str();
                let path = ["/api/chat", "/api/livechat"].iter().any(|path| {
                    value.starts_with(path)
                        || value
                            .split_once("://")
                            .is_some_and(|(_, rest)| rest.contains(path))
                });
                if path {
                    findings.push(format!(
                        "{folder}/{name}:{} spells the path `{}`",
                        literal.line, literal.value
                    ));
                }
            }
        }
    }
    assert_none(
        "no service declares a path of the live-chat contract itself; both route and call with `livechat_contract`",
        findings,
    );
}

#[test]
fn no_page_marks_user_text_safe_or_writes_html_from_script() {
    let root = repository_root();
    let mut findings = Vec::new();
    for folder in ["contoso-livechat/templates", "copilot-solution/static"] {
        for file in files_below(&root.join(folder), ".html") {
            for (number, line) in read(&file).lines().enumerate() {
                let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
                if squeezed.contains("|safe") {
                    findings.push(format!(
                        "{}:{} marks text safe",
                        relative(&file, &root),
                        number + 1
                    ));
                }
            }
        }
    }
    for folder in ["contoso-livechat/static", "copilot-solution/static"] {
        for file in files_below(&root.join(folder), ".js") {
            for (number, line) in read(&file).lines().enumerate() {
                for sink in [
                    "innerHTML",
                    "outerHTML",
                    "insertAdjacentHTML",
                    "document.write",
                ] {
                    if line.contains(sink) {
                        findings.push(format!(
                            "{}:{} writes HTML with `{sink}`",
                            relative(&file, &root),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    assert_none(
        "no user text is marked safe in a template or written as HTML by a script",
        findings,
    );
}

/// The sections of ARCHITECTURE.md: heading and lines.
fn architecture() -> Vec<(String, Vec<String>)> {
    let text = read(&repository_root().join("ARCHITECTURE.md"));
    let mut sections: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            sections.push((line.trim_start_matches('#').trim().to_owned(), Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut() {
            lines.push(line.to_owned());
        }
    }
    sections
}

/// The text between backticks on a line.
fn quoted(line: &str) -> Vec<String> {
    line.split('`')
        .enumerate()
        .filter(|(index, _)| index % 2 == 1)
        .map(|(_, text)| text.to_owned())
        .collect()
}

#[test]
fn the_module_maps_name_every_file_and_only_files_that_exist() {
    let root = repository_root();
    let sections = architecture();
    let mut findings = Vec::new();
    for name in CRATES {
        let heading = format!("`{name}/`");
        let Some((_, lines)) = sections
            .iter()
            .find(|(title, _)| title.starts_with("Module map") && title.contains(&heading))
        else {
            findings.push(format!("no section \"Module map: {heading}\""));
            continue;
        };
        // A file named bare is in the folder last named on its line (`domain/`: `ids.rs`).
        let base = root.join(name);
        let mut named: BTreeSet<String> = BTreeSet::new();
        for line in lines {
            let mut folder = String::new();
            for quote in quoted(line) {
                if quote.ends_with('/') && !quote.contains(' ') {
                    folder = quote.clone();
                    named.insert(quote);
                } else if quote.ends_with(".rs") && !quote.contains(' ') {
                    let candidates = [
                        quote.clone(),
                        format!("src/{quote}"),
                        format!("{folder}{quote}"),
                        format!("src/{folder}{quote}"),
                    ];
                    match candidates.iter().find(|path| base.join(path).is_file()) {
                        Some(path) => {
                            named.insert(path.clone());
                        }
                        None => findings.push(format!(
                            "the module map of {name}/ names `{quote}`, which does not exist"
                        )),
                    }
                }
            }
        }
        for (file, _) in ["src", "tests", "examples"].into_iter().flat_map(|part| {
            sources(&format!("{name}/{part}"), &[])
                .into_iter()
                .map(move |(file, path)| (format!("{part}/{file}"), path))
        }) {
            let covered = named.iter().any(|quote| {
                quote == &file
                    || file.strip_prefix("src/") == Some(quote.as_str())
                    || (quote.ends_with('/')
                        && (file.starts_with(quote.as_str())
                            || file
                                .strip_prefix("src/")
                                .is_some_and(|inner| inner.starts_with(quote.as_str()))))
            });
            if !covered {
                findings.push(format!("{name}/{file} is not in its module map"));
            }
        }
        for quote in named.iter().filter(|quote| quote.ends_with('/')) {
            if !base.join(quote).is_dir() && !base.join("src").join(quote).is_dir() {
                findings.push(format!(
                    "the module map of {name}/ names `{quote}`, which does not exist"
                ));
            }
        }
    }
    assert_none(
        "this map names every file (and no file that is gone)",
        findings,
    );
}

/// True when `line` holds the end of one sentence and the start of another (outside backticks;
/// a list item's number is not a sentence).
fn has_two_sentences(line: &str) -> bool {
    let line = line.trim_start();
    let line = match line.split_once(". ") {
        Some((number, rest))
            if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) =>
        {
            rest
        }
        _ => line,
    };
    let prose: String = line
        .split('`')
        .enumerate()
        .map(|(index, part)| if index % 2 == 0 { part } else { "x" })
        .collect();
    let characters: Vec<char> = prose.chars().collect();
    characters.windows(3).enumerate().any(|(at, window)| {
        matches!(window[0], '.' | '?' | '!')
            && window[1] == ' '
            && window[2].is_uppercase()
            && !["e.g", "i.e", "etc", "vs"].iter().any(|abbreviation| {
                prose[..prose.char_indices().nth(at).map_or(0, |(i, _)| i)].ends_with(abbreviation)
            })
    })
}

#[test]
fn the_architecture_reads_one_sentence_a_line() {
    let mut findings = Vec::new();
    let text = read(&repository_root().join("ARCHITECTURE.md"));
    let mut in_code = false;
    for (number, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if has_two_sentences(line) {
            findings.push(format!("line {} holds more than one sentence", number + 1));
        }
        if line.chars().count() > 300 {
            findings.push(format!("line {} runs past 300 characters", number + 1));
        }
    }
    assert_none("one sentence a line, none past 300 characters", findings);
}
