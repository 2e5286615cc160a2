//! `[[!img file.png size=WxH alt=... title=... class=... id=... align=...
//! caption=... link=...]]`: an image, scaled down to `size` if it is
//! larger, linking to the full image (or to `link`). Scaled copies go to
//! `destdir/PAGE/WxH-file.png` and are only made again when the image
//! changes. `[[!img defaults size=...]]` sets defaults for the images
//! after it on the page.

use super::{Context, Directive, Params};
use crate::pagespec::DEPEND_PRESENCE;
use crate::wiki::LinkOpts;

pub struct Img;

const DEFAULT_FORMATS: [&str; 4] = ["jpeg", "png", "gif", "svg"];

impl Directive for Img {
    /// The image is a link of the page.
    fn scan(&self) -> bool {
        true
    }

    fn run(&self, cx: &mut Context, params: &Params) -> Result<String, String> {
        let Some((image, _)) = params.first() else {
            return Err("bad image filename".into());
        };
        let image = image.to_string();
        if image.is_empty()
            || !image
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.:/+".contains(c))
        {
            return Err("bad image filename".into());
        }
        // Defaults fill in what this directive does not say. As in
        // ikiwiki, where the scan of the whole page sets them before any
        // image is shown, the page's last defaults apply from its start.
        if cx.state.img_defaults.is_none() && !cx.scan {
            cx.state.img_defaults = Some(page_defaults(cx));
        }
        let mut params = params.clone();
        if let Some(defaults) = &cx.state.img_defaults {
            for (k, v) in &defaults.pairs {
                if !params.has(k) {
                    params.pairs.push((k.clone(), v.clone()));
                }
            }
        }
        let size = params
            .get("size")
            .filter(|s| !s.is_empty())
            .unwrap_or("full")
            .to_string();
        if image == "defaults" {
            cx.state.img_defaults = Some(params);
            return Ok(String::new());
        }
        cx.state.add_link(&image, None);
        cx.state
            .add_depends(&image, crate::pagespec::DEPEND_CONTENT);
        if cx.scan {
            return Ok(String::new());
        }
        let wiki = cx.wiki();
        let (page, destpage) = (cx.page.clone(), cx.destpage.clone());
        let Some(file_id) = wiki.bestlink(&page, &image) else {
            return Ok(wiki.htmllink(&page, &destpage, &image, &LinkOpts::default()));
        };
        let fp = wiki.page(file_id);
        let file = fp.name.clone();
        let base = crate::names::basename(&file).to_string();
        let Some(extension) = base
            .rsplit_once('.')
            .map(|(_, e)| e.to_lowercase())
            .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric()))
        else {
            return Err("Unable to detect image type from extension".into());
        };
        let format = match extension.as_str() {
            "jpeg" | "jpg" => "jpeg".to_string(),
            "png" => "png".into(),
            "gif" => "gif".into(),
            "svg" => "svg".into(),
            "pdf" => "pdf".into(),
            other => match image::ImageFormat::from_extension(other) {
                Some(f) => f
                    .extensions_str()
                    .first()
                    .copied()
                    .unwrap_or(other)
                    .to_string(),
                None => return Err(format!("failed to determine format of {file}")),
            },
        };
        if !allowed(cx, &format) {
            return Err(format!(
                "{format} image processing disabled in img_allowed_formats configuration"
            ));
        }
        let bytes = match fp.builtin {
            Some(b) => b.to_vec(),
            None => std::fs::read(fp.src_path(&wiki.config))
                .map_err(|e| format!("failed to read {file}: {e}"))?,
        };
        let magic: Option<&[u8]> = match format.as_str() {
            "jpeg" => Some(b"\xff\xd8\xff"),
            "png" => Some(b"\x89PNG\r\n\x1a\n"),
            "gif" => Some(b"GIF8"),
            "pdf" => Some(b"%PDF-"),
            _ => None,
        };
        if let Some(m) = magic
            && !bytes.starts_with(m)
        {
            return Err(format!(
                "\"{file}\" does not seem to be a valid {format} file"
            ));
        }
        if format == "pdf" {
            return Err(format!(
                "failed to read {file}: wikic cannot render PDF pages"
            ));
        }

        let (w, h): (Option<String>, Option<String>) = if size == "full" {
            (None, None)
        } else {
            match size.split_once('x') {
                Some((a, b))
                    if a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit()) =>
                {
                    (Some(a.to_string()), Some(b.to_string()))
                }
                _ => (None, None),
            }
        };
        // A size that is not WxH (or is just "x") means full size.
        let wanted = |v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<f64>().unwrap_or(0.0))
        };
        let (ww, wh) = (wanted(&w), wanted(&h));

        let (imglink, dwidth, dheight): (String, Option<String>, Option<String>) =
            if format == "svg" {
                (
                    file.clone(),
                    w.filter(|s| !s.is_empty()),
                    h.filter(|s| !s.is_empty()),
                )
            } else {
                let (iw, ih) = image::ImageReader::new(std::io::Cursor::new(&bytes))
                    .with_guessed_format()
                    .map_err(|e| format!("failed to read {file}: {e}"))?
                    .into_dimensions()
                    .map_err(|e| format!("failed to get dimensions of {file}: {e}"))?;
                let (iw, ih) = (iw as f64, ih as f64);
                let (dw, dh) = match (ww, wh) {
                    (None, None) => (iw, ih),
                    _ if iw == 0.0 || ih == 0.0 => (0.0, 0.0),
                    (None, Some(h)) => (h / ih * iw, h),
                    (Some(w), Some(h)) if ih * w > h * iw => (h / ih * iw, h),
                    (Some(w), _) => (w, w / iw * ih),
                };
                if dw < iw {
                    let out = format!("{page}/{size}-{base}");
                    let (rw, rh) = scaled_size(iw, ih, perl_num(dw), perl_num(dh));
                    let dest = wiki.config.destdir.join(&out);
                    let fresh = match (
                        fp.builtin,
                        std::fs::metadata(&dest),
                        std::fs::metadata(fp.src_path(&wiki.config)),
                    ) {
                        (None, Ok(d), Ok(s)) => d.modified().ok() >= s.modified().ok(),
                        _ => false,
                    };
                    let cached = fresh
                        .then(|| image::image_dimensions(&dest).ok())
                        .flatten()
                        .filter(|&(cw, ch)| (cw, ch) == (rw, rh));
                    if cached.is_some() {
                        cx.state.kept_outputs.push(out.clone());
                    } else {
                        let scaled =
                            resize(&bytes, rw, rh).map_err(|e| format!("failed to resize: {e}"))?;
                        cx.state.outputs.push((out.clone(), scaled));
                    }
                    (out, Some(rw.to_string()), Some(rh.to_string()))
                } else {
                    (file.clone(), Some(perl_num(dw)), Some(perl_num(dh)))
                }
            };

        let fileurl = wiki.urlto(&file, &destpage);
        let imgurl = if imglink == file {
            fileurl.clone()
        } else {
            wiki.urlto_file(&imglink, &destpage)
        };
        let mut attrs = String::new();
        for attr in ["alt", "title", "class", "id", "hspace", "vspace"] {
            let v = match (attr, params.get(attr)) {
                ("class", None) => Some("img"),
                (_, v) => v,
            };
            if let Some(v) = v {
                attrs.push_str(&format!(" {attr}=\"{v}\""));
            }
        }
        let mut tag = format!("<img src=\"{imgurl}\"");
        if let Some(dw) = &dwidth {
            tag.push_str(&format!(" width=\"{dw}\""));
        }
        if let Some(dh) = &dheight {
            tag.push_str(&format!(" height=\"{dh}\""));
        }
        tag.push_str(&attrs);
        if let (Some(a), false) = (params.get("align"), params.has("caption")) {
            tag.push_str(&format!(" align=\"{a}\""));
        }
        tag.push_str(" />");

        let link = params.get("link").map(str::to_string);
        let tag = match link.as_deref() {
            None => format!("<a href=\"{fileurl}\">{tag}</a>"),
            Some(l) if is_url(l) => format!("<a href=\"{l}\">{tag}</a>"),
            Some(l) => match wiki.bestlink(&page, l) {
                Some(b) => {
                    let target = wiki.page(b).name.clone();
                    let html = wiki.htmllink(
                        &page,
                        &destpage,
                        l,
                        &LinkOpts {
                            linktext: Some(&tag),
                            noimageinline: true,
                            ..Default::default()
                        },
                    );
                    cx.state.add_depends(&target, DEPEND_PRESENCE);
                    html
                }
                None => tag,
            },
        };
        match params.get("caption") {
            Some(c) => Ok(format!(
                "<table class=\"img{}\"><caption>{c}</caption><tr><td>{tag}</td></tr></table>",
                params
                    .get("align")
                    .map(|a| format!(" align-{a}"))
                    .unwrap_or_default()
            )),
            None => Ok(tag),
        }
    }
}

/// The defaults the page's `[[!img defaults ...]]` directives add up to.
fn page_defaults(cx: &Context) -> Params {
    let mut defaults = Params::default();
    let Some(id) = cx.wiki().id(&cx.page) else {
        return defaults;
    };
    let Some(text) = cx.site.source(id) else {
        return defaults;
    };
    for d in crate::preprocess::find_all(text, cx.wiki().config.prefix_directives) {
        if d.command != "img" || d.escaped {
            continue;
        }
        let params = Params::new(crate::preprocess::parse_params(d.params));
        if params.first().is_some_and(|(k, _)| k == "defaults") {
            let mut merged = params.clone();
            for (k, v) in &defaults.pairs {
                if !merged.has(k) {
                    merged.pairs.push((k.clone(), v.clone()));
                }
            }
            defaults = merged;
        }
    }
    defaults
}

/// `scheme://...`, which `link=` takes as it is.
fn is_url(l: &str) -> bool {
    l.split_once("://")
        .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

fn allowed(cx: &Context, format: &str) -> bool {
    let list = cx.wiki().config.setup.list("img_allowed_formats");
    let list: Vec<String> = if list.is_empty() {
        DEFAULT_FORMATS.iter().map(|s| s.to_string()).collect()
    } else {
        list
    };
    list.iter()
        .any(|a| a.eq_ignore_ascii_case(format) || a.eq_ignore_ascii_case("everything"))
}

/// A number as Perl prints it (15 significant digits, no trailing
/// zeros), since the sizes ikiwiki computes go into the page that way.
pub fn perl_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let digits = 15 - 1 - x.abs().log10().floor() as i32;
    let s = format!("{:.*}", digits.max(0) as usize, x);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The size ImageMagick gives an image of `iw`×`ih` resized to fit
/// within the box `w`×`h` (numbers as written in the geometry).
fn scaled_size(iw: f64, ih: f64, w: String, h: String) -> (u32, u32) {
    let w: f64 = w.parse().unwrap_or(iw);
    let h: f64 = h.parse().unwrap_or(ih);
    let scale = (w / iw).min(h / ih);
    let round = |v: f64| ((v + 0.5).floor() as u32).max(1);
    (round(iw * scale), round(ih * scale))
}

/// The image scaled to exactly `w`×`h`, in its own format.
fn resize(bytes: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let format = reader.format().ok_or("unknown image format")?;
    let img = reader.decode().map_err(|e| e.to_string())?;
    let scaled = img.resize_exact(w, h, image::imageops::FilterType::Lanczos3);
    let mut out = std::io::Cursor::new(Vec::new());
    let scaled = if format == image::ImageFormat::Jpeg {
        // JPEG has no alpha channel.
        image::DynamicImage::ImageRgb8(scaled.to_rgb8())
    } else {
        scaled
    };
    scaled
        .write_to(&mut out, format)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_perl_does() {
        assert_eq!(perl_num(150.0), "150");
        assert_eq!(perl_num(37.5), "37.5");
        assert_eq!(perl_num(200.0 / 3.0), "66.6666666666667");
        assert_eq!(perl_num(0.0), "0");
    }

    #[test]
    fn sizes_round_as_imagemagick() {
        // Checked against Image::Magick's Resize on a 300x200 image.
        assert_eq!(
            scaled_size(300.0, 200.0, "100".into(), "66.6666666666667".into()),
            (100, 67)
        );
        assert_eq!(
            scaled_size(300.0, 200.0, "37.5".into(), "25".into()),
            (38, 25)
        );
        assert_eq!(
            scaled_size(300.0, 200.0, "77.5".into(), "51.6666666666667".into()),
            (78, 52)
        );
        assert_eq!(
            scaled_size(300.0, 200.0, "150".into(), "100".into()),
            (150, 100)
        );
    }
}
