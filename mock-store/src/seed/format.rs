//! The shape of a fixture file: streams of events in the fixture form.
//! Identity fields are checked non-empty inside the parser, so an error
//! keeps the line of the value.

use crate::wire::{
    event::FixtureEvent,
    non_empty::{NonEmpty, NonEmptyList},
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FixtureFile {
    pub(super) streams: Vec<StreamSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamSpec {
    pub(super) tenant_id: NonEmpty,
    pub(super) aggregate_id: NonEmpty,
    pub(super) aggregate_type: NonEmpty,
    pub(super) events: NonEmptyList<FixtureEvent>,
}
