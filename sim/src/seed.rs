//! Seeds as people type them: decimal, `0x` hex, or a 40-hex-digit commit
//! hash.
//!
//! Owns: parsing and printing seeds. Does not own: choosing which seeds run
//! (`check`).
//!
//! SEED-1: a 40-hex-digit string (a git commit hash) folds to a `u64` as
//! FNV-1a 64 over its lowercase ASCII text, so the same commit always names
//! the same seed.
//! SEED-2: [`display`] prints a seed in a form [`parse`] reads back exactly.

use crate::hash;

/// Why a seed string could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a seed: expected decimal, 0x-hex, or a 40-hex-digit commit hash")]
pub struct SeedParseError {
    /// The text that was given.
    pub text: String,
}

/// Reads a seed (see the module doc for the accepted forms).
pub fn parse(text: &str) -> Result<u64, SeedParseError> {
    let trimmed = text.trim();
    let error = || SeedParseError {
        text: text.to_owned(),
    };
    if let Some(hex) = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
    {
        return u64::from_str_radix(hex, 16).map_err(|_| error());
    }
    if trimmed.len() == 40 && trimmed.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Ok(hash::fnv1a(trimmed.to_ascii_lowercase().as_bytes()));
    }
    trimmed.parse::<u64>().map_err(|_| error())
}

/// A seed as `0x` + 16 hex digits (SEED-2).
pub fn display(seed: u64) -> String {
    format!("{seed:#018x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: every accepted form parses, and printing round-trips (SEED-1, SEED-2).
    // Method: parse known strings; parse(display(x)) == x.
    #[test]
    fn seed_forms() {
        assert_eq!(parse("42"), Ok(42));
        assert_eq!(parse("0x2a"), Ok(42));
        let commit = "fb7e398c0c1d2e3f4a5b6c7d8e9fa0b1c2d3e4f5";
        assert_eq!(parse(commit), parse(&commit.to_uppercase()));
        assert_eq!(parse(commit), Ok(hash::fnv1a(commit.as_bytes())));
        assert!(parse("nope").is_err());
        assert_eq!(parse(&display(u64::MAX)), Ok(u64::MAX));
    }
}
