//! Terminal helpers: placeholder until they land.
