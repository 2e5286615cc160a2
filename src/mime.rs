//! MIME types by file extension, for `mimetype()` pagespecs, feed
//! enclosures and the development server.

/// The MIME type of a file from its content (magic numbers, as
/// ikiwiki's File::MimeInfo::Magic), falling back to its name for text:
/// what an upload or a pushed file really is, whatever it is called.
pub fn sniff(file: &str, content: &[u8]) -> String {
    if let Some(kind) = infer::get(content) {
        return kind.mime_type().to_string();
    }
    let looks_like_text = !content.contains(&0) && std::str::from_utf8(content).is_ok();
    let by_name = guess(file);
    if looks_like_text {
        if by_name.starts_with("text/") || by_name.ends_with("xml") || by_name == "application/json"
        {
            by_name.to_string()
        } else {
            "text/plain".to_string()
        }
    } else {
        "application/octet-stream".to_string()
    }
}

pub fn guess(file: &str) -> &'static str {
    let ext = match file.rsplit_once('.') {
        Some((_, e)) if !e.contains('/') => e.to_ascii_lowercase(),
        _ => return "application/octet-stream",
    };
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" => "text/javascript",
        "txt" | "mdwn" | "md" => "text/plain",
        "xml" => "application/xml",
        "rss" => "application/rss+xml",
        "atom" => "application/atom+xml",
        "json" => "application/json",
        "png" => "image/png",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "svgz" => "image/svg+xml",
        "ico" => "image/vnd.microsoft.icon",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" => "audio/ogg",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    }
}
