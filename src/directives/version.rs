//! `[[!version]]`: the version of the wiki compiler that built the page.

use super::{Context, Directive, Params};

pub struct Version;

impl Directive for Version {
    fn run(&self, _cx: &mut Context, _params: &Params) -> Result<String, String> {
        // A new version means a full rebuild (the index records the tool),
        // so pages showing it never go stale.
        Ok(env!("CARGO_PKG_VERSION").to_string())
    }
}
