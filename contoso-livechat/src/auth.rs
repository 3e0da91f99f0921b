//! Agents signing in: the agent list, the session cookie, and CSRF tokens.
//!
//! The session (a signed, encrypted cookie) holds the signed-in agent and a CSRF token. Every
//! state-changing agent request must carry that token, in the form field `csrf_token` or the
//! `X-CSRF-Token` header (the page's JavaScript), compared in constant time: a handler takes its
//! form through [`AgentForm`] (or, without a form, [`AgentRequest`]), which checks it, so no
//! handler can forget to.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::Mutex;
use std::time::Duration;

use actix_session::{Session, SessionExt};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::configuration::{AgentRole, AgentSettings};
use crate::error::PageError;
use crate::password::{hash_password, verify_password};

const SESSION_AGENT: &str = "agent";
const SESSION_CSRF: &str = "csrf";
/// The header the page's JavaScript sends the CSRF token in.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// How long a sign-in lasts, whatever the cookie says (the cookie's own lifetime is the same).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// An agent, as remembered in the session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignedInAgent {
    pub username: String,
    pub display_name: String,
    /// Unix seconds of the sign-in (absent in older cookies, which therefore count as expired).
    #[serde(default)]
    pub signed_in_at: i64,
    /// This sign-in's own id, so that signing out can end it on the server.
    #[serde(default)]
    pub session_id: String,
}

impl SignedInAgent {
    /// Whether this sign-in still holds now: not expired, not signed out (revoked), and of an
    /// agent still configured. Asked on every request, and by a live-update stream at every
    /// heartbeat, so a stream ends with its sign-in.
    pub fn is_valid(&self, agents: &Agents, revoked: &RevokedSessions) -> bool {
        let now = chrono::Utc::now().timestamp();
        let fresh = now - self.signed_in_at < SESSION_LIFETIME.as_secs() as i64
            && self.signed_in_at <= now + 60;
        fresh
            && agents.is_configured(&self.username)
            && !revoked.is_revoked(&self.session_id)
            && !self.session_id.is_empty()
    }
}

/// Sign-ins ended on the server (signed out), until they would have expired anyway. Kept in
/// memory: after a restart with a fixed `LIVECHAT_SESSION_KEY`, a copy of a signed-out cookie
/// is refused only once its lifetime is over.
#[derive(Default)]
pub struct RevokedSessions {
    until: Mutex<HashMap<String, i64>>,
}

impl RevokedSessions {
    pub fn revoke(&self, agent: &SignedInAgent, now: i64) {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        until.retain(|_, expires| *expires > now);
        until.insert(
            agent.session_id.clone(),
            agent.signed_in_at + SESSION_LIFETIME.as_secs() as i64,
        );
    }

    fn is_revoked(&self, session_id: &str) -> bool {
        self.until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(session_id)
    }
}

/// The agents who may sign in.
pub struct Agents {
    by_username: HashMap<String, AgentSettings>,
    /// Checked when the username is unknown, so that both answers take as long.
    decoy_hash: String,
}

impl Agents {
    pub fn new(agents: Vec<AgentSettings>) -> anyhow::Result<Self> {
        let by_username = agents
            .into_iter()
            .map(|agent| (agent.username.to_lowercase(), agent))
            .collect();
        Ok(Self {
            by_username,
            decoy_hash: hash_password("decoy password")?,
        })
    }

    /// True while `username` is a configured agent.
    /// The agent's role; an unknown agent may do nothing more than an agent.
    pub fn role_of(&self, username: &str) -> AgentRole {
        self.by_username
            .get(&username.trim().to_lowercase())
            .map_or(AgentRole::Agent, |agent| agent.role)
    }

    pub fn is_configured(&self, username: &str) -> bool {
        self.by_username
            .contains_key(&username.trim().to_lowercase())
    }

    /// The agent with these credentials, if any.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<SignedInAgent> {
        match self.by_username.get(&username.trim().to_lowercase()) {
            Some(agent) if verify_password(password, &agent.password_hash) => Some(SignedInAgent {
                username: agent.username.clone(),
                display_name: agent.display_name.clone(),
                signed_in_at: chrono::Utc::now().timestamp(),
                session_id: new_token(),
            }),
            Some(_) => None,
            None => {
                let _ = verify_password(password, &self.decoy_hash);
                None
            }
        }
    }
}

/// Records the agent in the session, with a fresh session id and CSRF token.
pub fn sign_in(session: &Session, agent: &SignedInAgent) -> Result<(), PageError> {
    session.renew();
    session.insert(SESSION_AGENT, agent).map_err(|error| {
        PageError::Unexpected(anyhow::anyhow!("cannot store the session: {error}"))
    })?;
    session.insert(SESSION_CSRF, new_token()).map_err(|error| {
        PageError::Unexpected(anyhow::anyhow!("cannot store the session: {error}"))
    })?;
    Ok(())
}

pub fn sign_out(session: &Session) {
    session.purge();
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The session's CSRF token, created on first use (the sign-in form needs one before sign-in).
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(SESSION_CSRF) {
        return token;
    }
    let token = new_token();
    let _ = session.insert(SESSION_CSRF, &token);
    token
}

/// Checks a request's CSRF token against the session's.
pub fn check_csrf(session: &Session, provided: Option<&str>) -> Result<(), PageError> {
    let expected = session
        .get::<String>(SESSION_CSRF)
        .ok()
        .flatten()
        .ok_or(PageError::Forbidden)?;
    let provided = provided.ok_or(PageError::Forbidden)?;
    if bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// The CSRF token sent with a request, from the header.
pub fn csrf_header(request: &HttpRequest) -> Option<String> {
    request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Extractor: the signed-in agent, or a redirect to the sign-in page.
pub struct CurrentAgent {
    pub agent: SignedInAgent,
    pub session: Session,
}

impl FromRequest for CurrentAgent {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let session = request.get_session();
        let agent = session.get::<SignedInAgent>(SESSION_AGENT).ok().flatten();
        let agents = request.app_data::<actix_web::web::Data<Agents>>();
        let revoked = request.app_data::<actix_web::web::Data<RevokedSessions>>();
        let still_valid = |agent: &SignedInAgent| match (agents, revoked) {
            (Some(agents), Some(revoked)) => agent.is_valid(agents, revoked),
            _ => false,
        };
        ready(match agent {
            Some(agent) if still_valid(&agent) => Ok(CurrentAgent { agent, session }),
            Some(_) => {
                // Expired, revoked, or of an agent no longer configured: whatever the cookie says.
                session.purge();
                Err(PageError::SignInRequired)
            }
            None => Err(PageError::SignInRequired),
        })
    }
}

/// A page action's form: the signed-in agent and the form's fields, once the request's CSRF token
/// (the page script's header, else the form's `csrf_token`) matches the session's. Not signed in:
/// the sign-in page; a wrong or missing token: 403, before the form is looked at again.
pub struct AgentForm<T> {
    pub current: CurrentAgent,
    pub form: T,
}

/// A form's fields with its CSRF token.
#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(flatten)]
    fields: T,
    csrf_token: Option<String>,
}

impl<T: DeserializeOwned + 'static> FromRequest for AgentForm<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentAgent::from_request(request, payload).into_inner();
        let header = csrf_header(request);
        let form = web::Form::<WithCsrf<T>>::from_request(request, payload);
        Box::pin(async move {
            let current = current?;
            let WithCsrf { fields, csrf_token } = form.await?.into_inner();
            check_csrf(&current.session, header.or(csrf_token).as_deref())?;
            Ok(AgentForm {
                current,
                form: fields,
            })
        })
    }
}

/// A page action without a form (the page's script, which sends the CSRF token in its header):
/// the signed-in agent, once the header's token matches the session's.
pub struct AgentRequest {
    pub current: CurrentAgent,
}

impl FromRequest for AgentRequest {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let checked = CurrentAgent::from_request(request, payload)
            .into_inner()
            .and_then(|current| {
                check_csrf(&current.session, csrf_header(request).as_deref())?;
                Ok(AgentRequest { current })
            });
        ready(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_authenticate_by_case_insensitive_username() {
        let agents = Agents::new(vec![AgentSettings {
            username: "Ann".into(),
            display_name: "Ann Smith".into(),
            password_hash: hash_password("pw").unwrap(),
            capacity: None,
            role: AgentRole::Supervisor,
        }])
        .unwrap();
        assert_eq!(
            agents.authenticate("ann", "pw").unwrap().display_name,
            "Ann Smith"
        );
        assert!(agents.authenticate("ann", "nope").is_none());
        assert!(agents.authenticate("bob", "pw").is_none());
    }
}
