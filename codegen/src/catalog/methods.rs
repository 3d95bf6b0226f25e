//! The four method unions, read into [`MethodDef`]s, and each request's response type.

use super::classify::{branches, doc_of, strip_section_marker, tag_value};
use super::{Catalog, MethodDef, ParamsShape};
use crate::bundle::ref_name;
use crate::naming::{pascal, unique_variant_idents};
use crate::normalize::is_null_schema;
use serde_json::Value;
use std::collections::BTreeMap;

/// Client requests whose response type does not follow the `XParams` → `XResponse` naming.
pub const RESPONSE_EXCEPTIONS: &[(&str, &str)] = &[
    ("account/gatewayOAuth/cancel", "GatewayOAuthCancelResponse"),
    ("account/gatewayOAuth/login", "GatewayOAuthLoginResponse"),
    ("account/gatewayOAuth/read", "GatewayOAuthReadResponse"),
    ("account/logout", "LogoutAccountResponse"),
    ("account/rateLimits/read", "GetAccountRateLimitsResponse"),
    ("account/securitySetup/read", "GetAccountSecuritySetupResponse"),
    ("account/usage/read", "GetAccountTokenUsageResponse"),
    ("account/workspaceMessages/read", "GetWorkspaceMessagesResponse"),
    ("accountSession/list", "AccountSessionsResponse"),
    ("config/batchWrite", "ConfigWriteResponse"),
    ("config/mcpServer/reload", "McpServerRefreshResponse"),
    ("config/value/write", "ConfigWriteResponse"),
    ("configRequirements/read", "ConfigRequirementsReadResponse"),
    ("externalAgentConfig/import/readHistories", "ExternalAgentConfigImportHistoriesReadResponse"),
    ("memory/reset", "MemoryResetResponse"),
    // The schema names no response type; the release that added it answers with the shape of a config write.
    ("modelProvider/default/set", "ConfigWriteResponse"),
    ("remoteControl/disable", "RemoteControlDisableResponse"),
    ("remoteControl/enable", "RemoteControlEnableResponse"),
    ("remoteControl/status/read", "RemoteControlStatusReadResponse"),
    ("rollout/compress", "RolloutCompressResponse"),
    ("windowsSandbox/readiness", "WindowsSandboxReadinessResponse"),
];

/// The methods of one of the four method unions.
pub(super) fn methods(defs: &BTreeMap<String, Value>, union: &str) -> Result<Vec<MethodDef>, String> {
    let schema = defs.get(union).ok_or_else(|| format!("bundle lacks `{union}`"))?;
    let branches = branches(schema).ok_or_else(|| format!("`{union}` is not a union"))?;
    let mut out = Vec::new();
    for branch in branches {
        let method = tag_value(branch, "method")
            .ok_or_else(|| format!("a `{union}` branch has no constant `method`"))?
            .to_owned();
        let params = match branch.get("properties").and_then(|p| p.get("params")) {
            None => ParamsShape::None,
            Some(p) if is_null_schema(p) => ParamsShape::None,
            Some(p) => match ref_name(p) {
                Some(r) => ParamsShape::Ref(r.to_owned()),
                None => {
                    let alts = p.get("anyOf").and_then(Value::as_array);
                    match alts.map(Vec::as_slice) {
                        Some([a, b]) if is_null_schema(b) && ref_name(a).is_some() => {
                            ParamsShape::OptionalRef(ref_name(a).expect("checked").to_owned())
                        }
                        _ => return Err(format!("`{method}` has params of an unsupported shape: {p}")),
                    }
                }
            },
        };
        out.push(MethodDef {
            ident: pascal(&method),
            method,
            params,
            response: None,
            doc: doc_of(branch).and_then(strip_section_marker),
        });
    }
    let idents = unique_variant_idents(out.iter().map(|m| m.method.as_str()));
    if idents.iter().zip(&out).any(|(a, m)| *a != m.ident) {
        return Err(format!("two `{union}` methods map to the same Rust name"));
    }
    Ok(out)
}

/// Resolves the response type of every client and server request, once.
pub(super) fn resolve_responses(catalog: &mut Catalog) -> Result<(), String> {
    let mut requests = std::mem::take(&mut catalog.client_requests);
    let mut server = std::mem::take(&mut catalog.server_requests);
    for m in requests.iter_mut().chain(server.iter_mut()) {
        m.response = Some(response_type(m, |name| catalog.has_def(name))?);
    }
    catalog.client_requests = requests;
    catalog.server_requests = server;
    Ok(())
}

/// The response definition of a request method, by naming or by the exception table.
fn response_type(method: &MethodDef, has_def: impl Fn(&str) -> bool) -> Result<String, String> {
    if let Some((_, ty)) = RESPONSE_EXCEPTIONS.iter().find(|(m, _)| *m == method.method) {
        return if has_def(ty) {
            Ok((*ty).to_owned())
        } else {
            Err(format!("exception table maps `{}` to `{ty}`, which the schema lacks", method.method))
        };
    }
    let by_name = match &method.params {
        ParamsShape::Ref(p) | ParamsShape::OptionalRef(p) => p.strip_suffix("Params").map(|s| format!("{s}Response")),
        ParamsShape::None => None,
    };
    match by_name {
        Some(ty) if has_def(&ty) => Ok(ty),
        _ => Err(format!(
            "cannot find the response type of `{}`: add it to RESPONSE_EXCEPTIONS in codegen/src/catalog/methods.rs",
            method.method
        )),
    }
}
