//! Client-side helpers for tools and tests: credentials attached to every call.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::auth::{ORGANIZATION_HEADER, USER_HEADER};
use crate::status;

/// A bearer token, and optionally an acting user and an organization, added to every
/// request (a header the request already carries is kept).
#[derive(Clone, Debug)]
pub struct Credentials {
    authorization: MetadataValue<Ascii>,
    user: Option<MetadataValue<Ascii>>,
    organization: Option<MetadataValue<Ascii>>,
}

/// A channel whose calls carry credentials.
pub type AuthedChannel = InterceptedService<Channel, Credentials>;

impl Credentials {
    /// Calls authenticated with `token`.
    pub fn new(token: &str) -> Result<Self, Status> {
        let authorization = format!("Bearer {token}")
            .parse()
            .map_err(|_| status::invalid_credentials("the token must be ASCII"))?;
        Ok(Self {
            authorization,
            user: None,
            organization: None,
        })
    }

    /// The same credentials acting as `user` (`users/{uuid}`, a UUID, or `system`).
    pub fn acting_as(&self, user: &str) -> Result<Self, Status> {
        let user = user
            .parse()
            .map_err(|_| status::invalid_credentials("the user must be ASCII"))?;
        Ok(Self {
            user: Some(user),
            ..self.clone()
        })
    }

    /// The same credentials in organization `id` (`acme` or `organizations/acme`).
    pub fn in_organization(&self, id: &str) -> Result<Self, Status> {
        let organization = id
            .parse()
            .map_err(|_| status::invalid(ORGANIZATION_HEADER, "must be ASCII"))?;
        Ok(Self {
            organization: Some(organization),
            ..self.clone()
        })
    }

    /// Wraps `channel` so every call carries these credentials.
    pub fn on(&self, channel: Channel) -> AuthedChannel {
        InterceptedService::new(channel, self.clone())
    }
}

impl Interceptor for Credentials {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        metadata.insert("authorization", self.authorization.clone());
        if let Some(user) = &self.user
            && !metadata.contains_key(USER_HEADER)
        {
            metadata.insert(USER_HEADER, user.clone());
        }
        if let Some(organization) = &self.organization
            && !metadata.contains_key(ORGANIZATION_HEADER)
        {
            metadata.insert(ORGANIZATION_HEADER, organization.clone());
        }
        Ok(request)
    }
}

/// Why a client could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint is not a URI.
    #[error("invalid endpoint {0:?}")]
    InvalidEndpoint(String),
    /// The connection failed.
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}

/// Connects to `endpoint` (e.g. `http://127.0.0.1:50051`).
pub async fn connect(endpoint: &str) -> Result<Channel, ConnectError> {
    let endpoint = Channel::from_shared(endpoint.to_owned())
        .map_err(|_| ConnectError::InvalidEndpoint(endpoint.to_owned()))?
        .tcp_nodelay(true);
    Ok(endpoint.connect().await?)
}
