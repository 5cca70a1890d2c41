//! The `Tokens` service (SPEC §9): join and user tokens, made, listed and
//! revoked by root on a node's Unix socket (`noded token ...`), and
//! `Certify`, which trades a user token for a client certificate. Tokens
//! live in the store, so every node sees a revocation as soon as it is
//! committed.

use std::sync::Arc;

use proto::v1::tokens_server::Tokens;
use proto::v1::{
    CertifyReply, CertifyRequest, CreateTokenReply, CreateTokenRequest, ListTokensReply,
    ListTokensRequest, RevokeTokenReply, RevokeTokenRequest, TokenInfo,
};
use tonic::{Request, Response, Status};

use super::ApiState;
use crate::cluster::state::{Command, Reply};
use crate::tokens::{self, Token, TokenRecord};
use proto::now_ms;

/// A Unix user name as useradd accepts it (and nothing a URI would mangle).
fn valid_user_name(name: &str) -> bool {
    name.len() <= 32
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Implementation of `nefele.v1.Tokens`.
pub struct TokensApi {
    state: Arc<ApiState>,
}

impl TokensApi {
    /// A service over the shared state.
    pub fn new(state: Arc<ApiState>) -> Self {
        TokensApi { state }
    }

    /// Only root on this node's socket manages tokens.
    fn require_root<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let caller = self.state.caller(request);
        if caller.is_local_root() {
            return Ok(());
        }
        tracing::warn!(?caller, "token management refused");
        Err(TokenApiError::NotRoot.into())
    }
}

/// Why the Tokens API refused; api/status.rs gives each its code.
#[derive(Debug, thiserror::Error)]
pub enum TokenApiError {
    #[error("tokens are managed by root on a node's Unix socket (`sudo noded token ...`)")]
    NotRoot,
    #[error("this cluster runs without TLS (--insecure): {0}")]
    Insecure(&'static str),
    #[error("invalid user name {0:?}")]
    BadUser(String),
    #[error("a token may live at most 366 days")]
    TooLong,
    #[error("{0}")]
    Malformed(String),
    #[error("the token is for another cluster: its CA fingerprint is not this cluster's")]
    OtherCluster,
    #[error("certify: {0}")]
    Certify(String),
    #[error("cannot make a secret: {0}")]
    NoSecret(String),
    #[error("token vanished")]
    Vanished,
}

fn info(id: &str, record: &TokenRecord) -> TokenInfo {
    TokenInfo {
        id: id.to_string(),
        kind: record.kind.clone(),
        created_ms: record.created_ms,
        expires_ms: record.expires_ms,
        user: record.user.clone(),
    }
}

#[tonic::async_trait]
impl Tokens for TokensApi {
    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenReply>, Status> {
        self.require_root(&request)?;
        let tls = self
            .state
            .tls
            .as_ref()
            .ok_or(TokenApiError::Insecure("nodes join it without tokens"))?;
        let req = request.into_inner();
        let user = req.user.trim().to_string();
        if !user.is_empty() && !valid_user_name(&user) {
            return Err(TokenApiError::BadUser(user).into());
        }
        let ttl_ms = match req.ttl_ms {
            0 if user.is_empty() => tokens::DEFAULT_TTL_MS,
            0 => tokens::DEFAULT_USER_TTL_MS,
            t if t > tokens::MAX_TTL_MS => {
                return Err(TokenApiError::TooLong.into());
            }
            t => t,
        };
        let token = Token::generate(tls.ca_fingerprint)
            .map_err(|e| TokenApiError::NoSecret(e.to_string()))?;
        let now = now_ms();
        let record = TokenRecord {
            kind: if user.is_empty() { "join" } else { "user" }.into(),
            secret_sha256: tokens::secret_hash(&token.secret),
            created_ms: now,
            expires_ms: now + ttl_ms,
            user,
        };
        let command = Command::AddToken {
            id: token.id.clone(),
            record: record.clone(),
        };
        match self.state.cluster.write(command, false).await? {
            Reply::Refused { reason } => Err(reason.into()),
            _ => {
                tracing::info!(token = %token.id, kind = %record.kind, user = %record.user, ttl_ms, "made a token");
                Ok(Response::new(CreateTokenReply {
                    token: token.to_string(),
                    info: Some(info(&token.id, &record)),
                }))
            }
        }
    }

    async fn list_tokens(
        &self,
        request: Request<ListTokensRequest>,
    ) -> Result<Response<ListTokensReply>, Status> {
        self.require_root(&request)?;
        let tokens = self
            .state
            .cluster
            .state()
            .tokens
            .iter()
            .map(|(id, record)| info(id, record))
            .collect();
        Ok(Response::new(ListTokensReply { tokens }))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenReply>, Status> {
        self.require_root(&request)?;
        let id = request.into_inner().id;
        match self
            .state
            .cluster
            .write(Command::RevokeToken { id: id.clone() }, false)
            .await?
        {
            Reply::Refused { reason } => Err(reason.into()),
            _ => {
                tracing::info!(token = %id, "revoked a token");
                Ok(Response::new(RevokeTokenReply {}))
            }
        }
    }

    async fn certify(
        &self,
        request: Request<CertifyRequest>,
    ) -> Result<Response<CertifyReply>, Status> {
        let tls = self
            .state
            .tls
            .as_ref()
            .ok_or(TokenApiError::Insecure("no certificates"))?;
        let req = request.into_inner();
        let token: Token = req
            .token
            .parse()
            .map_err(|e: tokens::MalformedToken| TokenApiError::Malformed(e.to_string()))?;
        if token.ca_fingerprint != tls.ca_fingerprint {
            return Err(TokenApiError::OtherCluster.into());
        }
        let now = now_ms();
        let state = self.state.cluster.state();
        let record = state.tokens.get(&token.id);
        if let Err(why) = tokens::check_kind(record, &token.proof(now), "user") {
            tracing::warn!(token = %token.id, %why, "certify refused");
            return Err(why.into());
        }
        let record = record.ok_or(TokenApiError::Vanished)?;
        let valid_ms = crate::tls::USER_CERT_MS.min(record.expires_ms.saturating_sub(now));
        let certificate = tls
            .issue_user(&record.user, &token.id, &req.public_key, valid_ms)
            .map_err(|e| TokenApiError::Certify(format!("{e:#}")))?;
        Ok(Response::new(CertifyReply {
            certificate,
            user: record.user.clone(),
            expires_ms: now + valid_ms,
        }))
    }
}
