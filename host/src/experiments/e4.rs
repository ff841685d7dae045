//! stub
use super::common::{Ctx, Outcome};
use crate::Result;
/// Runs.
pub fn run(_ctx: &Ctx) -> Result<Outcome> {
    Err(crate::Error::Internal("todo".into()))
}
