//! GET /Schemas (and /ResourceTypes): the extensions the caller's tenant declared.

use proto::{DeclaredSchema, GetSchemasRequest, GetSchemasResponse};
use tonic::{Request, Response, Status};

use super::{Op, ProvisioningService};
use crate::store::schemas;

pub(super) async fn get_schemas(
    service: &ProvisioningService,
    request: Request<GetSchemasRequest>,
) -> Result<Response<GetSchemasResponse>, Status> {
    let (metadata, _, GetSchemasRequest {}) = request.into_parts();
    let declared = service
        .run(
            &metadata,
            Op::path("GET", "/Schemas"),
            Box::new(move |store, ctx, _| store.read(|conn| schemas::declared(conn, &ctx.tenant))),
        )
        .await?;
    let schemas = declared
        .into_iter()
        .map(|(kind, definition)| DeclaredSchema {
            resource_type: kind.name().to_owned(),
            definition_json: definition.to_string(),
        })
        .collect();
    Ok(Response::new(GetSchemasResponse { schemas }))
}
