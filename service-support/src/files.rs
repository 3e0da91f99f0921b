//! Files as both services handle them, whoever sends them: which kind a file is (told by its
//! first bytes, never by its name), which kinds are taken unless told otherwise, which pictures a
//! browser may show inline, what a file may be called, and how sizes and kinds read in words.

/// The longest file name either end keeps, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// The largest file either end takes unless told otherwise: 10 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// How many leading bytes [`sniff`] looks at (office documents name their parts well inside it).
pub const SNIFF_BYTES: usize = 64 * 1024;

/// A kind of file, as its first bytes tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKind {
    /// Its media type, e.g. `image/png`.
    pub mime: &'static str,
    /// The extension a file of this kind is named with.
    pub extension: &'static str,
}

/// Plain text: UTF-8 without control characters (other than tabs, line and page breaks).
pub const TEXT: FileKind = FileKind {
    mime: "text/plain",
    extension: "txt",
};
/// Bytes nothing recognises.
pub const UNKNOWN: FileKind = FileKind {
    mime: "application/octet-stream",
    extension: "bin",
};
const HTML: FileKind = FileKind {
    mime: "text/html",
    extension: "html",
};
const SVG: FileKind = FileKind {
    mime: "image/svg+xml",
    extension: "svg",
};
const XML: FileKind = FileKind {
    mime: "application/xml",
    extension: "xml",
};

/// The kinds both ends take unless told otherwise: pictures, PDF, office documents and plain text.
/// Archives, programs, markup (HTML, SVG) and media are not among them.
pub const DEFAULT_ALLOWED_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/heif",
    "image/bmp",
    "image/tiff",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
    "text/plain",
];

/// The pictures a browser shows inline safely: everything else is only ever downloaded.
pub const INLINE_PICTURES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

impl FileKind {
    /// True for the pictures a page may show inline ([`INLINE_PICTURES`]).
    pub fn is_inline_picture(self) -> bool {
        INLINE_PICTURES.contains(&self.mime)
    }

    /// How a person would name the kind: "PNG picture", "PDF document".
    pub fn label(self) -> String {
        describe_type(self.mime)
    }

    /// Other extensions a file of this kind may already carry (its name keeps one of them).
    fn other_extensions(self) -> &'static [&'static str] {
        match self.mime {
            "image/jpeg" => &["jpg", "jpeg", "jfif"],
            "image/heif" => &["heic", "heif"],
            "image/tiff" => &["tif", "tiff"],
            "text/plain" => &["txt", "csv", "tsv", "log", "md", "json"],
            "text/html" => &["html", "htm"],
            _ => &[],
        }
    }
}

/// The kind a media type names, for a file whose bytes another party looked at (its name keeps
/// one of the kind's extensions); an unknown type is [`UNKNOWN`].
pub fn kind_of_type(mime: &str) -> FileKind {
    let extension = match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/heif" => "heic",
        "image/bmp" => "bmp",
        "image/tiff" => "tif",
        "application/pdf" => "pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/msword" => "doc",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.ms-powerpoint" => "ppt",
        "application/vnd.oasis.opendocument.text" => "odt",
        "application/vnd.oasis.opendocument.spreadsheet" => "ods",
        "application/vnd.oasis.opendocument.presentation" => "odp",
        "application/rtf" => "rtf",
        "text/plain" => return TEXT,
        "text/html" => return HTML,
        "image/svg+xml" => return SVG,
        "application/zip" => "zip",
        _ => return UNKNOWN,
    };
    // The table's types are `'static` already; this finds the one `mime` equals.
    let mime = DEFAULT_ALLOWED_TYPES
        .iter()
        .chain(["application/zip"].iter())
        .find(|known| **known == mime)
        .copied()
        .unwrap_or(UNKNOWN.mime);
    FileKind { mime, extension }
}

/// "PNG picture", "PDF document", "Word document"… for a media type; the type itself otherwise.
pub fn describe_type(mime: &str) -> String {
    let known = match mime {
        "image/png" => "PNG picture",
        "image/jpeg" => "JPEG picture",
        "image/gif" => "GIF picture",
        "image/webp" => "WebP picture",
        "image/heif" => "HEIC photo",
        "image/bmp" => "BMP picture",
        "image/tiff" => "TIFF picture",
        "image/svg+xml" => "SVG drawing",
        "application/pdf" => "PDF document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/msword"
        | "application/vnd.oasis.opendocument.text"
        | "application/rtf" => "text document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.ms-excel"
        | "application/vnd.oasis.opendocument.spreadsheet" => "spreadsheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.oasis.opendocument.presentation" => "presentation",
        "text/plain" => "text file",
        "text/html" => "web page (HTML)",
        "application/xml" => "XML file",
        "application/zip" => "ZIP archive",
        "application/octet-stream" => "file of an unknown kind",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    match mime.split_once('/') {
        Some(("image", _)) => "picture".to_owned(),
        Some(("audio", _)) => "sound recording".to_owned(),
        Some(("video", _)) => "video".to_owned(),
        _ => format!("{mime} file"),
    }
}

/// `text` with its first letter in capitals, to begin a sentence ("PDF document", "Text file").
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The `Content-Security-Policy` of every file either service serves: nothing in it may run, load
/// or be framed, whatever it turns out to hold.
pub const SERVED_FILE_POLICY: &str = "default-src 'none'; sandbox";

/// The first bytes of a file arriving in chunks, kept until there are enough for [`sniff`].
#[derive(Debug, Default)]
pub struct Prefix(Vec<u8>);

impl Prefix {
    /// Keeps what `chunk` adds to the first [`SNIFF_BYTES`]; true once there are that many.
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        let room = SNIFF_BYTES.saturating_sub(self.0.len());
        self.0.extend_from_slice(&chunk[..chunk.len().min(room)]);
        self.is_full()
    }

    /// True once [`SNIFF_BYTES`] are kept.
    pub fn is_full(&self) -> bool {
        self.0.len() >= SNIFF_BYTES
    }

    /// The kind the bytes kept tell; `complete` when they are the whole file.
    pub fn kind(&self, complete: bool) -> FileKind {
        sniff(&self.0, complete)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The kind of file whose first bytes are `prefix` ([`SNIFF_BYTES`] of them, or all of a shorter
/// file, when `complete`). Text is told from binary by its bytes; text that is HTML, SVG or XML is
/// named so, so that it is never taken for plain text.
pub fn sniff(prefix: &[u8], complete: bool) -> FileKind {
    if let Some(found) = infer::get(prefix) {
        return FileKind {
            mime: found.mime_type(),
            extension: found.extension(),
        };
    }
    let Some(text) = as_text(prefix, complete) else {
        return UNKNOWN;
    };
    let head: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(2048)
        .collect::<String>()
        .to_ascii_lowercase();
    let opens_with_a_tag = head.strip_prefix('<').is_some_and(|rest| {
        rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '!' || c == '?')
    });
    if opens_with_a_tag || head.contains("<script") || head.contains("<html") {
        if head.contains("<svg") {
            return SVG;
        }
        if head.starts_with("<?xml") && !head.contains("<html") {
            return XML;
        }
        return HTML;
    }
    TEXT
}

/// `bytes` as text, if they are UTF-8 without control characters (a cut-off character at the end
/// is allowed when the file goes on).
fn as_text(bytes: &[u8], complete: bool) -> Option<&str> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) if !complete && error.error_len().is_none() => {
            // Only the last character was cut off by the prefix's end.
            std::str::from_utf8(&bytes[..error.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let printable = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\u{c}'));
    printable.then_some(text)
}

/// Characters that change how text around them reads (bidirectional overrides, zero-width
/// joiners): they can make `gpj.exe` look like `exe.jpg`.
fn is_disguising(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Names Windows keeps for devices, whatever their extension.
const RESERVED_NAMES: &[&str] = &[
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// A name that is safe to show and to save under, whatever the sender called the file: no folders,
/// no control, disguising or reserved characters, no leading dot, not a device name, at most
/// [`MAX_NAME_CHARS`] characters, and ending in an extension of `kind` (one is added when the name
/// has none of its own).
pub fn safe_name(name: &str, kind: FileKind) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut cleaned = String::with_capacity(last.len());
    let mut space = false;
    for c in last.chars() {
        if c.is_control()
            || is_disguising(c)
            || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
        {
            continue;
        }
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !cleaned.is_empty() {
            cleaned.push(' ');
        }
        space = false;
        cleaned.push(c);
    }
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c == ' ');
    let (stem, extension) = match trimmed.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, Some(extension)),
        _ => (trimmed, None),
    };
    let accepted = kind.other_extensions();
    let keeps_extension = extension.is_some_and(|extension| {
        let extension = extension.to_ascii_lowercase();
        extension == kind.extension || accepted.contains(&extension.as_str())
    });
    let (stem, extension) = match (keeps_extension, extension) {
        (true, Some(extension)) => (stem.to_owned(), extension.to_owned()),
        (_, Some(extension)) => (format!("{stem}.{extension}"), kind.extension.to_owned()),
        (_, None) => (stem.to_owned(), kind.extension.to_owned()),
    };
    let mut stem = stem.trim_matches(|c: char| c == '.' || c == ' ').to_owned();
    if stem.is_empty() {
        stem = "file".to_owned();
    }
    let base = stem
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if RESERVED_NAMES.contains(&base.as_str()) {
        stem = format!("_{stem}");
    }
    let room = MAX_NAME_CHARS
        .saturating_sub(extension.chars().count() + 1)
        .max(1);
    let stem: String = stem.chars().take(room).collect();
    let stem = stem.trim_end_matches([' ', '.']);
    let stem = if stem.is_empty() { "file" } else { stem };
    if extension.is_empty() {
        stem.to_owned()
    } else {
        format!("{stem}.{extension}")
    }
}

/// A `Content-Disposition` value for `name`: `attachment` (or `inline`), with an ASCII fallback
/// name and the name itself percent-encoded (RFC 6266).
pub fn content_disposition(inline: bool, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = if inline { "inline" } else { "attachment" };
    format!(
        "{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        url_segment(name)
    )
}

/// `text` percent-encoded for a path segment or an RFC 5987 value: unreserved characters stay.
fn url_segment(text: &str) -> String {
    const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// `bytes` in a short human form, in the units operating systems show files in (1 KB = 1,024
/// bytes): "980 bytes", "96 KB", "2.2 MB", "10 MB".
pub fn describe_size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let value = bytes as f64;
    let one = |value: f64, unit: &str| {
        if value.fract() < 0.05 || value >= 100.0 {
            format!("{value:.0} {unit}")
        } else {
            format!("{value:.1} {unit}")
        }
    };
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else if value < KB * KB {
        format!("{:.0} KB", value / KB)
    } else if value < KB * KB * KB {
        one(value / (KB * KB), "MB")
    } else {
        one(value / (KB * KB * KB), "GB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn kinds_are_told_by_their_bytes() {
        assert_eq!(sniff(PNG, false).mime, "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n", false).mime, "application/pdf");
        assert_eq!(
            sniff(b"\xff\xd8\xff\xe0\0\x10JFIF", false).mime,
            "image/jpeg"
        );
        assert_eq!(sniff(b"Hello,\nworld\t!", true), TEXT);
        assert_eq!(sniff(b"  <svg xmlns='x'>", true).mime, "image/svg+xml");
        assert_eq!(sniff(b"<!doctype html><p>", true).mime, "text/html");
        assert_eq!(sniff(b"hello <script>x</script>", true).mime, "text/html");
        assert_eq!(sniff(b"<?xml version='1.0'?><a/>", true).mime, "text/xml");
        assert_eq!(sniff(b"<3 thanks for the help", true), TEXT);
        assert_eq!(sniff(b"\0\x01\x02binary", true), UNKNOWN);
        assert_eq!(
            sniff(b"MZ\x90\0\x03\0\0\0", true).mime,
            "application/vnd.microsoft.portable-executable"
        );
        // A cut-off character at the end of a prefix is still text; at the end of the file it is not.
        let cut = "caf\u{e9}".as_bytes();
        assert_eq!(sniff(&cut[..cut.len() - 1], false), TEXT);
        assert_eq!(sniff(&cut[..cut.len() - 1], true), UNKNOWN);
    }

    #[test]
    fn markup_and_programs_are_not_taken_by_default() {
        for refused in [
            "text/html",
            "image/svg+xml",
            "application/xml",
            "text/xml",
            "application/zip",
            "application/octet-stream",
            "application/vnd.microsoft.portable-executable",
        ] {
            assert!(!DEFAULT_ALLOWED_TYPES.contains(&refused), "{refused}");
        }
        assert!(!FileKind {
            mime: "image/svg+xml",
            extension: "svg"
        }
        .is_inline_picture());
        assert!(sniff(PNG, false).is_inline_picture());
    }

    #[test]
    fn names_lose_folders_controls_and_disguises_and_keep_a_fitting_extension() {
        let png = sniff(PNG, false);
        assert_eq!(safe_name("photo.png", png), "photo.png");
        assert_eq!(safe_name("Photo.PNG", png), "Photo.PNG");
        assert_eq!(safe_name("../../etc/passwd", TEXT), "passwd.txt");
        assert_eq!(
            safe_name("C:\\Users\\me\\report.pdf", sniff(b"%PDF-", false)),
            "report.pdf"
        );
        assert_eq!(safe_name("invoice.exe", png), "invoice.exe.png");
        assert_eq!(safe_name("pic", png), "pic.png");
        assert_eq!(safe_name("", png), "file.png");
        assert_eq!(safe_name(".hidden", TEXT), "hidden.txt");
        assert_eq!(safe_name("a\u{202e}gnp.exe", png), "agnp.exe.png");
        assert_eq!(safe_name("con.txt", TEXT), "_con.txt");
        assert_eq!(
            safe_name(
                "  my   holiday\n photo .jpg",
                sniff(b"\xff\xd8\xff\xe0", false)
            ),
            "my holiday photo.jpg"
        );
        assert_eq!(safe_name("notes.csv", TEXT), "notes.csv");
        let long = format!("{}.png", "x".repeat(500));
        let kept = safe_name(&long, png);
        assert_eq!(kept.chars().count(), MAX_NAME_CHARS);
        assert!(kept.ends_with(".png"));
    }

    #[test]
    fn kinds_are_found_by_their_type() {
        assert_eq!(kind_of_type("application/pdf").extension, "pdf");
        assert_eq!(kind_of_type("text/plain"), TEXT);
        assert_eq!(kind_of_type("application/x-nope"), UNKNOWN);
        assert_eq!(
            safe_name("label.pdf", kind_of_type("application/pdf")),
            "label.pdf"
        );
    }

    #[test]
    fn dispositions_carry_an_ascii_fallback_and_the_encoded_name() {
        assert_eq!(
            content_disposition(false, "Rechnung ä.pdf"),
            "attachment; filename=\"Rechnung _.pdf\"; filename*=UTF-8''Rechnung%20%C3%A4.pdf"
        );
        assert!(content_disposition(true, "a\"b.png").starts_with("inline; filename=\"a_b.png\""));
    }

    #[test]
    fn sizes_and_types_read_as_people_say_them() {
        assert_eq!(describe_size(980), "980 bytes");
        assert_eq!(describe_size(98_304), "96 KB");
        assert_eq!(describe_size(2_300_000), "2.2 MB");
        assert_eq!(describe_size(DEFAULT_MAX_FILE_BYTES), "10 MB");
        assert_eq!(describe_size(1024 * 1024 * 1024), "1 GB");
        assert_eq!(describe_type("application/pdf"), "PDF document");
        assert_eq!(describe_type("audio/ogg"), "sound recording");
        assert_eq!(describe_type("application/x-foo"), "application/x-foo file");
    }
}
