//! Container tokens: what lets an application master (or the resource
//! manager, for AM containers) start a container on a node manager, and run
//! it as one user only.
//!
//! The resource manager issues one with every container it allocates
//! (Hadoop's `ContainerTokenIdentifier`): HMAC-SHA256 under the cluster
//! secret's `"container"` sub-key over the container id, node id, user,
//! application id and expiry. A node manager holds the same secret and
//! recomputes it; it starts a container only for an unexpired token naming
//! itself, and runs it as the token's user, never as a user named anywhere
//! else in the request. Later calls about the container (stop, status, logs)
//! need the same token (its MAC, not its expiry: a container may outlive
//! it), or node authentication.

use crate::yarn::pb;
use std::time::Duration;
use tusk_common::security::{ct_eq, hmac, now_ms, verify_hmac, ClusterSecret, TokenError};

/// How long a container token lets its holder start the container
/// (Hadoop: `yarn.resourcemanager.rm.container-allocation.expiry-interval-ms`,
/// 10 min).
pub const CONTAINER_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

const PURPOSE: &str = "container";

fn mac_of(secret: &ClusterSecret, t: &pb::ContainerToken) -> [u8; 32] {
    hmac(
        &secret.subkey(PURPOSE),
        &[
            t.container_id.as_bytes(),
            t.node_id.as_bytes(),
            t.user.as_bytes(),
            t.app_id.as_bytes(),
            &t.expires_ms.to_be_bytes(),
        ],
    )
}

/// A token for `container_id` of `app_id` on `node_id`, run as `user`,
/// startable for `lifetime`.
pub fn issue_container_token(
    secret: &ClusterSecret,
    container_id: &str,
    node_id: &str,
    user: &str,
    app_id: &str,
    lifetime: Duration,
) -> pb::ContainerToken {
    let mut t = pb::ContainerToken {
        container_id: container_id.to_string(),
        node_id: node_id.to_string(),
        user: user.to_string(),
        app_id: app_id.to_string(),
        expires_ms: now_ms().saturating_add(lifetime.as_millis() as u64),
        mac: Default::default(),
    };
    t.mac = mac_of(secret, &t).to_vec().into();
    t
}

/// Why a container call was refused: the one-line reason the caller sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerTokenError {
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("container token is for node {token}, not {this}")]
    WrongNode { token: String, this: String },
    #[error("container token is for container {token}, not {wanted}")]
    WrongContainer { token: String, wanted: String },
    #[error("container token is for application {token}, not {wanted}")]
    WrongApp { token: String, wanted: String },
}

/// Checks the MAC of `t` and that it names `node_id`; `Missing` for an
/// absent token. Expiry is not checked (see [`check_start`]).
pub fn verify_container_token(
    secret: &ClusterSecret,
    t: Option<&pb::ContainerToken>,
    node_id: &str,
) -> Result<pb::ContainerToken, ContainerTokenError> {
    let t = t.filter(|t| !t.mac.is_empty()).ok_or(TokenError::Missing)?;
    if !ct_eq(&mac_of(secret, t), &t.mac) {
        return Err(TokenError::BadSignature.into());
    }
    if t.node_id != node_id {
        return Err(ContainerTokenError::WrongNode {
            token: t.node_id.clone(),
            this: node_id.to_string(),
        });
    }
    Ok(t.clone())
}

/// [`verify_container_token`] for starting `container_id` of `app_id`:
/// also unexpired and naming that container and application.
pub fn check_start(
    secret: &ClusterSecret,
    t: Option<&pb::ContainerToken>,
    node_id: &str,
    container_id: &str,
    app_id: &str,
) -> Result<pb::ContainerToken, ContainerTokenError> {
    let t = verify_container_token(secret, t, node_id)?;
    let now = now_ms();
    if now >= t.expires_ms {
        return Err(TokenError::Expired(now - t.expires_ms).into());
    }
    if t.container_id != container_id {
        return Err(ContainerTokenError::WrongContainer {
            token: t.container_id,
            wanted: container_id.to_string(),
        });
    }
    if t.app_id != app_id {
        return Err(ContainerTokenError::WrongApp {
            token: t.app_id,
            wanted: app_id.to_string(),
        });
    }
    Ok(t)
}

/// gRPC metadata key of an application token.
pub const APP_TOKEN_KEY: &str = "x-tusk-app-token";

/// An application's token (Hadoop's AMRMToken and JobToken in one):
/// HMAC-SHA256 of the application id under the secret's `"app"` sub-key,
/// hex. The resource manager hands it to the application master
/// (`TUSK_APP_TOKEN`), which passes it to its tasks; the resource manager
/// checks it on ApplicationMaster calls, node managers on shuffle fetches,
/// the application master on umbilical calls. Only holders of the secret
/// can make one, and one application's token opens nothing of another's.
pub fn app_token(secret: &ClusterSecret, app_id: &str) -> String {
    hex::encode(hmac(&secret.subkey("app"), &[app_id.as_bytes()]))
}

/// Checks `presented` against [`app_token`] in constant time.
pub fn verify_app_token(
    secret: &ClusterSecret,
    app_id: &str,
    presented: Option<&str>,
) -> Result<(), TokenError> {
    let presented = presented.ok_or(TokenError::Missing)?;
    let mac = hex::decode(presented.trim()).map_err(|_| TokenError::Malformed)?;
    if verify_hmac(&secret.subkey("app"), &[app_id.as_bytes()], &mac) {
        Ok(())
    } else {
        Err(TokenError::BadSignature)
    }
}

/// Adds an application token to an outgoing request.
pub fn attach_app_token<T>(req: &mut tonic::Request<T>, token: &str) {
    if let Ok(v) = token.parse() {
        req.metadata_mut().insert(APP_TOKEN_KEY, v);
    }
}

/// The application token of an incoming request, if any.
pub fn app_token_of<T>(req: &tonic::Request<T>) -> Option<&str> {
    req.metadata()
        .get(APP_TOKEN_KEY)
        .and_then(|v| v.to_str().ok())
}

/// The application token of this process (`TUSK_APP_TOKEN`), if any.
pub fn app_token_from_env() -> Option<String> {
    std::env::var(crate::yarn::env::APP_TOKEN)
        .ok()
        .filter(|t| !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_tokens_are_per_application() {
        let s = ClusterSecret::generate();
        let t = app_token(&s, "application_1_0001");
        verify_app_token(&s, "application_1_0001", Some(&t)).unwrap();
        assert_eq!(
            verify_app_token(&s, "application_1_0002", Some(&t)),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_app_token(&ClusterSecret::generate(), "application_1_0001", Some(&t)),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify_app_token(&s, "application_1_0001", None),
            Err(TokenError::Missing)
        );
        assert_eq!(
            verify_app_token(&s, "application_1_0001", Some("zz")),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn tokens_verify_only_unchanged_with_the_same_secret() {
        let s = ClusterSecret::generate();
        let t = issue_container_token(&s, "c1", "h:1", "alice", "app1", CONTAINER_TOKEN_LIFETIME);
        check_start(&s, Some(&t), "h:1", "c1", "app1").unwrap();
        assert_eq!(
            check_start(&s, None, "h:1", "c1", "app1"),
            Err(TokenError::Missing.into())
        );
        let other = ClusterSecret::generate();
        assert_eq!(
            check_start(&other, Some(&t), "h:1", "c1", "app1"),
            Err(TokenError::BadSignature.into())
        );
        for forge in [
            |t: &mut pb::ContainerToken| t.user = "root".into(),
            |t: &mut pb::ContainerToken| t.container_id = "c2".into(),
            |t: &mut pb::ContainerToken| t.app_id = "app2".into(),
            |t: &mut pb::ContainerToken| t.expires_ms += 1,
            |t: &mut pb::ContainerToken| t.node_id = "h:2".into(),
        ] {
            let mut f = t.clone();
            forge(&mut f);
            assert_eq!(
                verify_container_token(&s, Some(&f), &f.node_id.clone()),
                Err(TokenError::BadSignature.into())
            );
        }
        assert!(matches!(
            check_start(&s, Some(&t), "h:2", "c1", "app1"),
            Err(ContainerTokenError::WrongNode { .. })
        ));
        assert!(matches!(
            check_start(&s, Some(&t), "h:1", "c9", "app1"),
            Err(ContainerTokenError::WrongContainer { .. })
        ));
        assert!(matches!(
            check_start(&s, Some(&t), "h:1", "c1", "app9"),
            Err(ContainerTokenError::WrongApp { .. })
        ));
        let old = issue_container_token(&s, "c1", "h:1", "alice", "app1", Duration::ZERO);
        assert!(matches!(
            check_start(&s, Some(&old), "h:1", "c1", "app1"),
            Err(ContainerTokenError::Token(TokenError::Expired(_)))
        ));
        // Expiry only limits starting.
        verify_container_token(&s, Some(&old), "h:1").unwrap();
    }
}
