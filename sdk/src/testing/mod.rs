//! Offline test kit.
