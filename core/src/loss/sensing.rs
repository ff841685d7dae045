//! placeholder, filled by the losses work
