//! The `Tokens` service (SPEC §9): join tokens, made, listed and revoked by
//! root on a node's Unix socket (`noded token ...`). Tokens live in the
//! store, so every node sees a revocation as soon as it is committed.

use std::sync::Arc;

use proto::v1::tokens_server::Tokens;
use proto::v1::{
    CreateTokenReply, CreateTokenRequest, ListTokensReply, ListTokensRequest, RevokeTokenReply,
    RevokeTokenRequest, TokenInfo,
};
use tonic::{Request, Response, Status};

use super::ApiState;
use crate::cluster::now_ms;
use crate::cluster::state::{Command, Reply};
use crate::tokens::{self, Token, TokenRecord};

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
        Err(Status::permission_denied(
            "tokens are managed by root on a node's Unix socket (`sudo noded token ...`)",
        ))
    }
}

fn info(id: &str, record: &TokenRecord) -> TokenInfo {
    TokenInfo {
        id: id.to_string(),
        kind: record.kind.clone(),
        created_ms: record.created_ms,
        expires_ms: record.expires_ms,
    }
}

#[tonic::async_trait]
impl Tokens for TokensApi {
    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenReply>, Status> {
        self.require_root(&request)?;
        let tls = self.state.tls.as_ref().ok_or_else(|| {
            Status::failed_precondition(
                "this cluster runs without TLS (--insecure): nodes join it without tokens",
            )
        })?;
        let ttl_ms = match request.into_inner().ttl_ms {
            0 => tokens::DEFAULT_TTL_MS,
            t if t > tokens::MAX_TTL_MS => {
                return Err(Status::invalid_argument(
                    "a token may live at most 366 days",
                ));
            }
            t => t,
        };
        let token = Token::generate(tls.ca_fingerprint)
            .map_err(|e| Status::internal(format!("cannot make a secret: {e}")))?;
        let now = now_ms();
        let record = TokenRecord {
            kind: "join".into(),
            secret_sha256: tokens::secret_hash(&token.secret),
            created_ms: now,
            expires_ms: now + ttl_ms,
        };
        let command = Command::AddToken {
            id: token.id.clone(),
            record: record.clone(),
        };
        match self.state.cluster.write(command, false).await? {
            Reply::Refused { reason } => Err(Status::failed_precondition(reason)),
            _ => {
                tracing::info!(token = %token.id, ttl_ms, "made a join token");
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
            .peers
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
            Reply::Refused { reason } => Err(Status::not_found(reason)),
            _ => {
                tracing::info!(token = %id, "revoked a token");
                Ok(Response::new(RevokeTokenReply {}))
            }
        }
    }
}
