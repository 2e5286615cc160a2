//! wikic: an ikiwiki-compatible wiki compiler.
//!
//! The pipeline is named by its modules: [`setup`] and [`config`] read the
//! setup file, [`scan`] finds sources, [`preprocess`] and [`directives`]
//! expand `[[!directives]]`, [`links`] resolves wikilinks, [`render`] turns
//! pages into HTML with [`templates`], and [`write`] puts files in place.
//! [`build`] runs the whole thing.

pub mod aside;
pub mod autofile;
pub mod basewiki;
pub mod build;
pub mod cli;
pub mod config;
pub mod directives;
pub mod htmlscan;
pub mod htmltmpl;
pub mod index;
pub mod links;
pub mod markdown;
pub mod mime;
pub mod names;
pub mod pagespec;
pub mod plugins;
pub mod pool;
pub mod preprocess;
pub mod receive;
pub mod recentchanges;
pub mod render;
pub mod scan;
pub mod scrub;
pub mod setup;
pub mod site;
pub mod smiley;
pub mod sort;
#[cfg(target_os = "linux")]
pub mod teardown;
pub mod templates;
pub mod timefmt;
pub mod vcs;
pub mod wiki;
pub mod wrappers;
pub mod write;
