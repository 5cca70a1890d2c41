//! Join tokens (SPEC §9): `N1.<CA fingerprint>.<id>.<secret>`. The
//! fingerprint lets a new node verify the cluster before it trusts it; the
//! secret lets the cluster verify the node. The store keeps the id, the
//! SHA-256 of the secret and the expiry ([`TokenRecord`]); the secret itself
//! is shown once, when the token is made. The API's `Tokens` service and
//! the join path call this module.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token format's prefix (and version).
const PREFIX: &str = "N1";
/// Default lifetime of a join token.
pub const DEFAULT_TTL_MS: u64 = 24 * 3600 * 1000;
/// Default lifetime of a user token.
pub const DEFAULT_USER_TTL_MS: u64 = 90 * 24 * 3600 * 1000;
/// Longest lifetime a token may be given.
pub const MAX_TTL_MS: u64 = 366 * 24 * 3600 * 1000;

/// A parsed token.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// SHA-256 of the cluster CA certificate.
    pub ca_fingerprint: [u8; 32],
    /// The id under which the store keeps it.
    pub id: String,
    /// The secret.
    pub secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Token").field("id", &self.id).finish()
    }
}

/// Why a token could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "malformed token: expected N1.<CA fingerprint, 64 hex digits>.<id, 16 hex digits>.<secret, 32 hex digits> (was it cut short?)"
)]
pub struct MalformedToken;

impl std::str::FromStr for Token {
    type Err = MalformedToken;
    fn from_str(s: &str) -> Result<Self, MalformedToken> {
        let mut parts = s.trim().split('.');
        let (Some(PREFIX), Some(fp), Some(id), Some(secret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(MalformedToken);
        };
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(id, 16) || !hex(secret, 32) {
            return Err(MalformedToken);
        }
        Ok(Token {
            ca_fingerprint: proto::tls::parse_fingerprint(fp).ok_or(MalformedToken)?,
            id: id.to_ascii_lowercase(),
            secret: secret.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}.{}.{}.{}",
            proto::tls::hex(&self.ca_fingerprint),
            self.id,
            self.secret
        )
    }
}

impl Token {
    /// A new random token for the cluster whose CA has this fingerprint.
    pub fn generate(ca_fingerprint: [u8; 32]) -> std::io::Result<Token> {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 16];
        getrandom::fill(&mut id).map_err(std::io::Error::other)?;
        getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
        Ok(Token {
            ca_fingerprint,
            id: proto::tls::hex(&id),
            secret: proto::tls::hex(&secret),
        })
    }

    /// The proof a join presents to the store: the id and the secret's hash.
    pub fn proof(&self, now_ms: u64) -> TokenProof {
        TokenProof {
            id: self.id.clone(),
            secret_sha256: secret_hash(&self.secret),
            now_ms,
        }
    }
}

/// SHA-256 of a secret, in hex.
pub fn secret_hash(secret: &str) -> String {
    proto::tls::hex(&Sha256::digest(secret.as_bytes()))
}

/// What the store keeps of a token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenRecord {
    /// What it is for ("join").
    pub kind: String,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// When it was made, ms since the epoch.
    pub created_ms: u64,
    /// When it stops working, ms since the epoch.
    pub expires_ms: u64,
    /// A user token's user ("" for join tokens).
    #[serde(default)]
    pub user: String,
}

/// What a join carries into the store to prove its token; checked when the
/// join is applied, so a token revoked just before is refused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenProof {
    /// The token's id.
    pub id: String,
    /// SHA-256 of the secret presented, hex.
    pub secret_sha256: String,
    /// The proposer's clock when it checked, ms since the epoch (the state
    /// machine must not read a clock of its own).
    pub now_ms: u64,
}

/// Checks a proof against the join token the store has under its id
/// (`None`: unknown or revoked). The error is what the joining node is told.
pub fn check(record: Option<&TokenRecord>, proof: &TokenProof) -> Result<(), TokenError> {
    check_kind(record, proof, "join")
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum TokenError {
    #[error("token {0} is unknown or revoked (make one with `noded token create` on a member)")]
    Unknown(String),
    #[error("token {id} is not a {kind} token")]
    WrongKind { id: String, kind: String },
    #[error("token {0} expired (make a new one with `noded token create`)")]
    Expired(String),
    #[error("wrong secret for token {0}")]
    WrongSecret(String),
}

/// Checks a proof against a token of `kind` ("join" or "user").
pub fn check_kind(
    record: Option<&TokenRecord>,
    proof: &TokenProof,
    kind: &str,
) -> Result<(), TokenError> {
    let id = || proof.id.clone();
    let Some(record) = record else {
        return Err(TokenError::Unknown(id()));
    };
    if record.kind != kind {
        return Err(TokenError::WrongKind {
            id: id(),
            kind: kind.to_string(),
        });
    }
    if proof.now_ms >= record.expires_ms {
        return Err(TokenError::Expired(id()));
    }
    let same: bool = record
        .secret_sha256
        .as_bytes()
        .ct_eq(proof.secret_sha256.as_bytes())
        .into();
    if !same {
        return Err(TokenError::WrongSecret(id()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_junk() {
        let token = Token::generate([7; 32]).unwrap();
        let text = token.to_string();
        assert_eq!(text.parse::<Token>().unwrap(), token);
        assert!(!format!("{token:?}").contains(&token.secret));
        for bad in [
            "",
            "N1",
            &text[..text.len() - 1],
            &text.replace("N1.", "N2."),
            &format!("{text}.x"),
            "N1.zz.00000000000000000000000000000000.0000000000000000",
        ] {
            assert!(bad.parse::<Token>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_proof_must_match_an_unexpired_token() {
        let token = Token::generate([1; 32]).unwrap();
        let record = TokenRecord {
            kind: "join".into(),
            secret_sha256: secret_hash(&token.secret),
            created_ms: 0,
            expires_ms: 1000,
            user: String::new(),
        };
        check(Some(&record), &token.proof(999)).unwrap();
        let id = token.id.clone();
        assert_eq!(
            check_kind(Some(&record), &token.proof(1), "user"),
            Err(TokenError::WrongKind {
                id: id.clone(),
                kind: "user".into()
            })
        );
        assert_eq!(
            check(Some(&record), &token.proof(1000)),
            Err(TokenError::Expired(id.clone()))
        );
        assert_eq!(
            check(None, &token.proof(1)),
            Err(TokenError::Unknown(id.clone()))
        );
        let mut wrong = token.clone();
        wrong.secret = "0".repeat(32);
        assert_eq!(
            check(Some(&record), &wrong.proof(1)),
            Err(TokenError::WrongSecret(id))
        );
    }
}
