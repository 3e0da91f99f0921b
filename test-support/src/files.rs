//! Files for the tests: real pictures (PNG, made here so that a browser shows them), a small PDF,
//! the EICAR test string every malware scanner flags, and a fake ClamAV daemon that speaks its
//! `INSTREAM` protocol and flags that string.

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The EICAR anti-virus test file: harmless, and flagged by every scanner.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A PNG of `width` x `height` pixels, each coloured by `paint(x, y)`.
pub fn png(width: u32, height: u32, paint: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0);
        for x in 0..width {
            raw.extend_from_slice(&paint(x, y));
        }
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&raw).unwrap();
    let data = encoder.finish().unwrap();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, body) in [(b"IHDR", header), (b"IDAT", data), (b"IEND", Vec::new())] {
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(&body);
        png.extend_from_slice(kind);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    png
}

/// A picture of a shipping label: a blue band, a white card and a barcode of stripes.
pub fn picture(width: u32, height: u32) -> Vec<u8> {
    png(width, height, |x, y| {
        let band = y < height / 5;
        let card = x > width / 10 && x < width * 9 / 10 && y > height / 3 && y < height * 9 / 10;
        let stripe = card && y > height / 2 && y < height * 4 / 5 && (x / 3) % 3 != 0;
        match (band, card, stripe) {
            (true, _, _) => [79, 70, 229],
            (_, _, true) => [31, 35, 51],
            (_, true, _) => [255, 255, 255],
            _ => [224, 227, 255],
        }
    })
}

/// A one-page PDF that says `text` (ASCII), with a correct cross-reference table.
pub fn pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 18 Tf 50 750 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", index + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A fake `clamd` on a loopback port: answers `INSTREAM` scans with `FOUND` for streams holding
/// [`EICAR`] and `OK` otherwise. Answers its address (`host:port`).
pub async fn fake_clamd() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut command = [0u8; 10];
                if socket.read_exact(&mut command).await.is_err() || &command != b"zINSTREAM\0" {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    let mut length = [0u8; 4];
                    if socket.read_exact(&mut length).await.is_err() {
                        return;
                    }
                    let length = u32::from_be_bytes(length) as usize;
                    if length == 0 {
                        break;
                    }
                    let mut chunk = vec![0u8; length];
                    if socket.read_exact(&mut chunk).await.is_err() {
                        return;
                    }
                    data.extend_from_slice(&chunk);
                }
                let infected = data.windows(EICAR.len()).any(|window| window == EICAR);
                let answer: &[u8] = if infected {
                    b"stream: Eicar-Test-Signature FOUND\0"
                } else {
                    b"stream: OK\0"
                };
                let _ = socket.write_all(answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    address
}

/// An agent's reply with a file as the conversation page's form sends it: `multipart/form-data`,
/// the CSRF token first.
pub fn reply_form(
    csrf: &str,
    message: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("csrf_token", csrf.to_owned())
        .text("message", message.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        )
}
