//! The lab report's claims (../shared/CLAIMS.md) and the rules that give each a verdict.
