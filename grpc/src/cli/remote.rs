//! Clients of a running server for the operations commands: credentials in the
//! target's organization, and the organizations a token may report on.

use super::*;

pub(super) fn credentials(token: Option<&str>) -> Result<Credentials, Failure> {
    Ok(Credentials::new(token.ok_or(
        "--token (or POOLKEEPER_TOKEN) is needed with --server",
    )?)?)
}

pub(super) async fn admin_client(
    server: &str,
    credentials: &Credentials,
) -> Result<AdminServiceClient<AuthedChannel>, Failure> {
    Ok(AdminServiceClient::new(
        credentials.on(client::connect(server).await?),
    ))
}

pub(super) async fn audit_client(
    target: &Target,
    server: &str,
) -> Result<AuditServiceClient<AuthedChannel>, Failure> {
    let channel = client::connect(server).await?;
    Ok(AuditServiceClient::new(target.credentials()?.on(channel)))
}

/// The organizations `status` reports on: the one named, or every one the token may see
/// (just `default` for a token without the platform scope).
pub(super) async fn organizations_to_report(
    target: &Target,
    server: &str,
) -> Result<Vec<String>, Failure> {
    if target.organization.is_some() {
        return Ok(vec![target.organization()?.as_str().to_owned()]);
    }
    let mut catalog = OrganizationServiceClient::new(
        credentials(target.token.as_deref())?.on(client::connect(server).await?),
    );
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListOrganizationsRequest {
            page_size: 500,
            page_token: page_token.clone(),
        };
        let page = match catalog.list_organizations(request).await {
            Ok(page) => page.into_inner(),
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                return Ok(vec![
                    OrganizationId::default_organization().as_str().to_owned(),
                ]);
            }
            Err(status) => return Err(status.into()),
        };
        ids.extend(page.organizations.into_iter().map(|o| {
            o.name
                .strip_prefix("organizations/")
                .unwrap_or(&o.name)
                .to_owned()
        }));
        if page.next_page_token.is_empty() {
            return Ok(ids);
        }
        page_token = page.next_page_token;
    }
}
