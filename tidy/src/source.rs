//! One Rust file as the checks see it: its string literals and identifiers (with line numbers), read
//! from its tokens, so that comments and doc comments never count and text inside macro calls
//! (`json!`, `format!`, `concat!`) does.

use std::str::FromStr;

use proc_macro2::{TokenStream, TokenTree};

/// A string literal's value and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    pub line: usize,
    pub value: String,
}

/// An identifier and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub line: usize,
    pub text: String,
}

/// What a file holds outside its comments.
#[derive(Debug, Default)]
pub struct Tokens {
    pub literals: Vec<Literal>,
    pub words: Vec<Word>,
    /// Items marked `#[cfg(test)]` are left out.
    skip_tests: bool,
}

impl Tokens {
    /// Reads `text`; an error when it is not Rust that the lexer takes.
    pub fn of(text: &str) -> Result<Tokens, String> {
        Tokens::read(text, false)
    }

    /// [`Tokens::of`] the code that ships: items marked `#[cfg(test)]` are left out.
    pub fn of_shipped(text: &str) -> Result<Tokens, String> {
        Tokens::read(text, true)
    }

    fn read(text: &str, skip_tests: bool) -> Result<Tokens, String> {
        let stream = TokenStream::from_str(text).map_err(|error| error.to_string())?;
        let mut tokens = Tokens {
            skip_tests,
            ..Tokens::default()
        };
        tokens.walk(stream);
        Ok(tokens)
    }

    fn walk(&mut self, stream: TokenStream) {
        let mut trees = stream.into_iter().peekable();
        while let Some(tree) = trees.next() {
            match tree {
                // `#[doc = "..."]` and `#![doc = "..."]` are comments written another way.
                TokenTree::Punct(punct) if punct.as_char() == '#' => {
                    if let Some(TokenTree::Punct(bang)) = trees.peek() {
                        if bang.as_char() == '!' {
                            trees.next();
                        }
                    }
                    match trees.next() {
                        Some(TokenTree::Group(group)) if is_doc(&group.stream()) => {}
                        Some(TokenTree::Group(group))
                            if self.skip_tests && is_cfg_test(&group.stream()) =>
                        {
                            // The item it marks: up to its body or its `;`.
                            for tree in trees.by_ref() {
                                match tree {
                                    TokenTree::Group(body)
                                        if body.delimiter() == proc_macro2::Delimiter::Brace =>
                                    {
                                        break
                                    }
                                    TokenTree::Punct(end) if end.as_char() == ';' => break,
                                    _ => {}
                                }
                            }
                        }
                        Some(TokenTree::Group(group)) => self.walk(group.stream()),
                        Some(other) => self.walk(TokenStream::from(other)),
                        None => {}
                    }
                }
                TokenTree::Group(group) => self.walk(group.stream()),
                TokenTree::Ident(ident) => self.words.push(Word {
                    line: ident.span().start().line,
                    text: ident.to_string(),
                }),
                TokenTree::Literal(literal) => {
                    if let Ok(string) = syn::parse_str::<syn::LitStr>(&literal.to_string()) {
                        self.literals.push(Literal {
                            line: literal.span().start().line,
                            value: string.value(),
                        });
                    }
                }
                TokenTree::Punct(_) => {}
            }
        }
    }

    /// The lines where `word` stands as an identifier.
    pub fn lines_of_word(&self, word: &str) -> Vec<usize> {
        self.words
            .iter()
            .filter(|found| found.text == word)
            .map(|found| found.line)
            .collect()
    }
}

fn is_cfg_test(attribute: &TokenStream) -> bool {
    let text: String = attribute
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    text == "cfg(test)"
}

fn is_doc(attribute: &TokenStream) -> bool {
    matches!(attribute.clone().into_iter().next(), Some(TokenTree::Ident(ident)) if ident == "doc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_docs_do_not_count_and_macro_bodies_do() {
        let tokens = Tokens::of(
            "//! \"in a module doc\"\n/// \"in a doc\"\n#[doc = \"written out\"]\nfn f() {\n    // \"in a comment\"\n    let x = json!({\"serviceUrl\": 1});\n    let y = r#\"raw\"#;\n}\n",
        )
        .unwrap();
        let values: Vec<&str> = tokens
            .literals
            .iter()
            .map(|literal| literal.value.as_str())
            .collect();
        assert_eq!(values, ["serviceUrl", "raw"]);
        assert_eq!(tokens.literals[0].line, 6);
        assert_eq!(tokens.lines_of_word("json"), [6]);
    }

    #[test]
    fn shipped_code_leaves_test_items_out() {
        let text = "fn f() { let a = \"shipped\"; }\n#[cfg(test)]\nmod tests {\n    fn g() { let b = \"test\"; }\n}\n#[cfg(test)]\nuse x::y;\nfn h() { let c = \"also shipped\"; }\n";
        let values = |tokens: Tokens| {
            tokens
                .literals
                .into_iter()
                .map(|literal| literal.value)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            values(Tokens::of_shipped(text).unwrap()),
            ["shipped", "also shipped"]
        );
        assert_eq!(
            values(Tokens::of(text).unwrap()),
            ["shipped", "test", "also shipped"]
        );
    }
}
