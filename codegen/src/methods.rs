//! Emits the method table: a marker type implementing `Request`/`Notification` for every
//! method, the `ServerNotification` and `ServerRequest` enums (decoded by method name
//! first, with a fallback for methods a newer Codex adds), and one typed stub per client
//! request on the `ClientRequests` extension trait.

use crate::catalog::{Catalog, MethodDef, ParamsShape};
use crate::docs::doc_attrs;
use crate::naming::FALLBACK_VARIANT;
use crate::surfaces::ExperimentalOnly;
use heck::ToSnakeCase;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use std::collections::BTreeMap;

fn ident(s: &str) -> Ident {
    Ident::new(s, Span::call_site())
}

fn params_ty(shape: &ParamsShape) -> TokenStream {
    match shape {
        ParamsShape::None => quote! { () },
        ParamsShape::Ref(p) => {
            let p = ident(p);
            quote! { types::#p }
        }
        ParamsShape::OptionalRef(p) => {
            let p = ident(p);
            quote! { ::std::option::Option<types::#p> }
        }
    }
}

/// The doc of a method's marker, stub or handler: the wire name, what the schema says of
/// it, and its params and response types (linked), so no method is undocumented.
fn method_doc(m: &MethodDef, response: Option<&str>) -> TokenStream {
    let mut text = match &m.doc {
        Some(d) => format!("`{}`: {d}", m.method),
        None => format!("`{}`.", m.method),
    };
    let params = match &m.params {
        ParamsShape::None => "none".to_owned(),
        ParamsShape::Ref(p) => format!("[`{p}`](types::{p})"),
        ParamsShape::OptionalRef(p) => format!("[`{p}`](types::{p}) (optional)"),
    };
    text.push_str(&format!("\n\nParams: {params}."));
    if let Some(r) = response {
        text.push_str(&format!(" Response: [`{r}`](types::{r})."));
    }
    doc_attrs(Some(&text))
}

/// Rust source of `methods.rs` for one bundle.
///
/// The experimental surface's client requests (`only`) are emitted under the
/// `experimental` feature; experimental-only server methods are refused (the message enums
/// have no place for them yet, and the schema has none).
pub fn emit_methods(catalog: &Catalog, only: &ExperimentalOnly) -> Result<TokenStream, String> {
    let server_side =
        catalog.server_requests.iter().chain(&catalog.server_notifications).chain(&catalog.client_notifications);
    if let Some(m) = server_side.into_iter().find(|m| only.methods.contains(&m.method)) {
        return Err(format!(
            "`{}` is experimental-only: the codegen puts only client requests under the feature",
            m.method
        ));
    }
    let mut responses = BTreeMap::new();
    for m in catalog.client_requests.iter().chain(&catalog.server_requests) {
        responses.insert(m.method.clone(), m.response_type()?.to_owned());
    }
    for m in catalog.client_requests.iter().chain(&catalog.server_requests).chain(&catalog.server_notifications) {
        if let ParamsShape::Ref(p) | ParamsShape::OptionalRef(p) = &m.params {
            if !catalog.has_def(p) {
                return Err(format!("`{}` refers to params `{p}`, which the schema lacks", m.method));
            }
        }
    }

    let request_markers = |methods: &[MethodDef]| -> TokenStream {
        let items = methods.iter().map(|m| {
            let doc = method_doc(m, Some(&responses[&m.method]));
            let name = ident(&m.ident);
            let wire = &m.method;
            let params = params_ty(&m.params);
            let response = ident(&responses[&m.method]);
            let cfg = only.method_cfg(&m.method);
            quote! {
                #doc
                #[derive(Debug, Clone, Copy)]
                #cfg
                pub enum #name {}
                #cfg
                impl crate::protocol::Request for #name {
                    const METHOD: &'static str = #wire;
                    type Params = #params;
                    type Response = types::#response;
                }
            }
        });
        quote! { #(#items)* }
    };
    let notification_markers = |methods: &[MethodDef]| -> TokenStream {
        let items = methods.iter().map(|m| {
            let doc = method_doc(m, None);
            let name = ident(&m.ident);
            let wire = &m.method;
            let params = params_ty(&m.params);
            quote! {
                #doc
                #[derive(Debug, Clone, Copy)]
                pub enum #name {}
                impl crate::protocol::Notification for #name {
                    const METHOD: &'static str = #wire;
                    type Params = #params;
                }
            }
        });
        quote! { #(#items)* }
    };

    let client_requests = request_markers(&catalog.client_requests);
    let server_requests = request_markers(&catalog.server_requests);
    let server_notifications = notification_markers(&catalog.server_notifications);
    let client_notifications = notification_markers(&catalog.client_notifications);

    let notification_enum = message_enum(
        "ServerNotification",
        " A notification from the server, decoded by its method name.",
        &catalog.server_notifications,
        &catalog.typify_defs,
    );
    let request_enum = message_enum(
        "ServerRequest",
        " A request from the server that the client must answer, decoded by its method name.",
        &catalog.server_requests,
        &catalog.typify_defs,
    );
    let stubs = stubs(&catalog.client_requests, &responses, only);
    let handler = handler_trait(&catalog.server_requests, &responses);
    let method_lists = method_lists(catalog, only);

    Ok(quote! {
        use super::types;

        /// Marker types for client → server requests (`Request` implementations).
        pub mod client_requests {
            use super::types;
            #client_requests
        }

        /// Marker types for server → client requests (`Request` implementations).
        pub mod server_requests {
            #[allow(unused_imports)]
            use super::types;
            #server_requests
        }

        /// Marker types for server → client notifications (`Notification` implementations).
        pub mod server_notifications {
            #[allow(unused_imports)]
            use super::types;
            #server_notifications
        }

        /// Marker types for client → server notifications (`Notification` implementations).
        pub mod client_notifications {
            #[allow(unused_imports)]
            use super::types;
            #client_notifications
        }

        #notification_enum
        #request_enum
        #stubs
        #handler
        #method_lists
    })
}

/// The expression giving `Option<&str>` of a params struct's id, from its schema `def`:
/// the string property `direct` (e.g. `threadId`), else the `id` of the object property
/// `nested` (e.g. `thread`) when it is a required reference. `None` when it has neither.
fn id_expr(def: Option<&serde_json::Value>, direct: &str, nested: &str) -> Option<TokenStream> {
    let def = def?;
    let props = def.get("properties")?.as_object()?;
    let required =
        |key: &str| def.get("required").and_then(|r| r.as_array()).is_some_and(|r| r.iter().any(|k| k == key));
    if let Some(prop) = props.get(direct) {
        let field = ident(&direct.to_snake_case());
        let ty = prop.get("type");
        let plain = ty.and_then(|t| t.as_str()) == Some("string");
        let nullable = ty.and_then(|t| t.as_array()).is_some_and(|t| t.iter().any(|x| x == "string"));
        return match (plain && required(direct), plain || nullable) {
            (true, _) => Some(quote! { Some(p.#field.as_str()) }),
            (false, true) => Some(quote! { p.#field.as_deref() }),
            _ => None,
        };
    }
    let prop = props.get(nested)?;
    let is_ref = prop.get("$ref").and_then(|r| r.as_str()).is_some_and(|r| {
        r.rsplit('/').next() == Some(&nested[..1].to_uppercase().chars().chain(nested[1..].chars()).collect::<String>())
    });
    if is_ref && required(nested) {
        let field = ident(nested);
        return Some(quote! { Some(p.#field.id.as_str()) });
    }
    None
}

/// `fn <name>(&self) -> Option<&str>` over the variants whose params carry the id.
fn id_accessor(
    name: &str,
    doc: &str,
    methods: &[MethodDef],
    defs: &BTreeMap<String, serde_json::Value>,
    direct: &str,
    nested: &str,
) -> TokenStream {
    let fn_name = ident(name);
    let arms = methods.iter().filter_map(|m| {
        let ParamsShape::Ref(params) = &m.params else { return None };
        let expr = id_expr(defs.get(params), direct, nested)?;
        let variant = ident(&m.ident);
        Some(quote! { Self::#variant(p) => #expr, })
    });
    quote! {
        #[doc = #doc]
        pub fn #fn_name(&self) -> ::std::option::Option<&str> {
            #[allow(unreachable_patterns)]
            match self {
                #( #arms )*
                _ => None,
            }
        }
    }
}

fn message_enum(
    name: &str,
    doc: &str,
    methods: &[MethodDef],
    defs: &BTreeMap<String, serde_json::Value>,
) -> TokenStream {
    let thread_id = id_accessor(
        "thread_id",
        " The thread this message is about (`threadId`, or `thread.id`), where the protocol says.",
        methods,
        defs,
        "threadId",
        "thread",
    );
    let turn_id = id_accessor(
        "turn_id",
        " The turn this message is about (`turnId`, or `turn.id`), where the protocol says.",
        methods,
        defs,
        "turnId",
        "turn",
    );
    let name_ident = ident(name);
    let fallback = ident(FALLBACK_VARIANT);
    let docs: Vec<TokenStream> = methods.iter().map(|m| method_doc(m, None)).collect();
    let idents: Vec<Ident> = methods.iter().map(|m| ident(&m.ident)).collect();
    let wires: Vec<&str> = methods.iter().map(|m| m.method.as_str()).collect();
    let params: Vec<TokenStream> = methods.iter().map(|m| params_ty(&m.params)).collect();
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum #name_ident {
            #( #docs #idents(#params), )*
            /// A method this version of the SDK does not know (from a newer Codex), kept verbatim.
            #fallback {
                /// The method name.
                method: String,
                /// The raw `params` (`null` when absent).
                params: ::serde_json::Value,
            },
        }

        impl #name_ident {
            /// Decodes `params` by `method`; an unknown method becomes the fallback variant,
            /// malformed params of a known method are an error that names the method.
            ///
            /// The params are decoded as text (see [`decode_raw`](Self::decode_raw)): each
            /// type has one deserializer, which keeps the crate small to build.
            pub fn decode(method: &str, params: ::serde_json::Value) -> ::std::result::Result<Self, crate::protocol::DecodeError> {
                if !Self::knows(method) {
                    return Ok(Self::#fallback { method: method.to_owned(), params });
                }
                let raw = ::serde_json::value::to_raw_value(&params)
                    .map_err(|source| crate::protocol::DecodeError::new(method, source))?;
                Self::decode_raw(method, &raw)
            }

            /// Decodes the raw `params` text by `method`, straight into the typed params
            /// (no intermediate `serde_json::Value`); an unknown method becomes the fallback
            /// variant, malformed params of a known method are an error that names the method.
            pub fn decode_raw(method: &str, params: &::serde_json::value::RawValue) -> ::std::result::Result<Self, crate::protocol::DecodeError> {
                let text = params.get();
                let decoded = match method {
                    #( #wires => ::serde_json::from_str(text).map(Self::#idents), )*
                    _ => ::serde_json::from_str(text).map(|params| Self::#fallback { method: method.to_owned(), params }),
                };
                decoded.map_err(|source| crate::protocol::DecodeError::new(method, source))
            }

            /// Whether `method` is one of the typed variants.
            pub fn knows(method: &str) -> bool {
                matches!(method, #( #wires )|*)
            }

            /// The method name.
            pub fn method(&self) -> &str {
                match self {
                    #( Self::#idents(_) => #wires, )*
                    Self::#fallback { method, .. } => method,
                }
            }

            #thread_id

            #turn_id

            /// The `params` as JSON, as they would appear on the wire.
            // Inline: built (with a serializer for every params type) only by a crate that calls it.
            #[inline]
            pub fn params_json(&self) -> ::std::result::Result<::serde_json::Value, ::serde_json::Error> {
                match self {
                    #( Self::#idents(params) => ::serde_json::to_value(params), )*
                    Self::#fallback { params, .. } => Ok(params.clone()),
                }
            }
        }
    }
}

fn stubs(methods: &[MethodDef], responses: &BTreeMap<String, String>, only: &ExperimentalOnly) -> TokenStream {
    let fns = methods.iter().map(|m| {
        let doc = method_doc(m, Some(&responses[&m.method]));
        let cfg = only.method_cfg(&m.method);
        let fn_name = ident(&m.ident.to_snake_case());
        let marker = ident(&m.ident);
        let response = ident(&responses[&m.method]);
        match &m.params {
            ParamsShape::None => quote! {
                #doc
                #cfg
                fn #fn_name(&self) -> impl ::std::future::Future<Output = ::std::result::Result<types::#response, Self::Error>> + Send {
                    self.send_request::<client_requests::#marker>(())
                }
            },
            shape => {
                let params = params_ty(shape);
                quote! {
                    #doc
                    #cfg
                    fn #fn_name(&self, params: #params) -> impl ::std::future::Future<Output = ::std::result::Result<types::#response, Self::Error>> + Send {
                        self.send_request::<client_requests::#marker>(params)
                    }
                }
            }
        }
    });
    quote! {
        /// One typed method per client request of the protocol, available on every
        /// [`RequestSender`](crate::protocol::RequestSender).
        pub trait ClientRequests: crate::protocol::RequestSender {
            #(#fns)*
        }

        impl<T: crate::protocol::RequestSender + ?Sized> ClientRequests for T {}
    }
}

/// The typed server-request handler: one method per server request, each failing closed
/// by default, and the dispatcher that decodes a request and calls the right method.
fn handler_trait(methods: &[MethodDef], responses: &BTreeMap<String, String>) -> TokenStream {
    let fns = methods.iter().map(|m| {
        let doc = method_doc(m, Some(&responses[&m.method]));
        let fn_name = ident(&m.ident.to_snake_case());
        let marker = ident(&m.ident);
        let response = ident(&responses[&m.method]);
        let params = params_ty(&m.params);
        quote! {
            #doc
            ///
            /// Default: the fail-closed reply (see [`fail_closed_reply`](crate::rpc::fail_closed_reply)).
            fn #fn_name(&self, params: #params) -> impl ::std::future::Future<Output = ::std::result::Result<types::#response, crate::error::RpcError>> + Send {
                let _ = params;
                ::std::future::ready(crate::rpc::typed_handlers::fail_closed::<server_requests::#marker>())
            }
        }
    });
    let arms = methods.iter().map(|m| {
        let fn_name = ident(&m.ident.to_snake_case());
        let variant = ident(&m.ident);
        quote! { ServerRequest::#variant(params) => crate::rpc::typed_handlers::reply(handler.#fn_name(params).await), }
    });
    let fallback = ident(FALLBACK_VARIANT);
    quote! {
        /// Answers requests the server sends to the client (approvals, tool calls, user
        /// input, …) with typed params and responses. Every method has a default that
        /// **fails closed**: approvals are declined, anything else is refused with an error.
        /// Implement only the methods you handle.
        pub trait ServerRequestHandler: Send + Sync + 'static {
            #(#fns)*

            /// A request method this version of the SDK does not know. Default: refused.
            fn unrecognized(&self, method: String, params: ::serde_json::Value) -> impl ::std::future::Future<Output = ::std::result::Result<::serde_json::Value, crate::error::RpcError>> + Send {
                let _ = params;
                ::std::future::ready(crate::rpc::fail_closed_reply(&method))
            }
        }

        /// Decodes a server request and answers it with `handler`, as JSON.
        pub async fn dispatch_server_request<H: ServerRequestHandler + ?Sized>(
            handler: &H,
            method: &str,
            params: ::serde_json::Value,
        ) -> ::std::result::Result<::serde_json::Value, crate::error::RpcError> {
            match ServerRequest::decode(method, params).map_err(crate::rpc::typed_handlers::invalid_params)? {
                #(#arms)*
                ServerRequest::#fallback { method, params } => handler.unrecognized(method, params).await,
            }
        }
    }
}

fn method_lists(catalog: &Catalog, only: &ExperimentalOnly) -> TokenStream {
    let list = |methods: &[MethodDef], with_experimental: bool| {
        let wires =
            methods.iter().map(|m| m.method.as_str()).filter(|m| with_experimental || !only.methods.contains(*m));
        quote! { &[ #(#wires),* ] }
    };
    let (stable_cr, all_cr) = (list(&catalog.client_requests, false), list(&catalog.client_requests, true));
    let sr = list(&catalog.server_requests, true);
    let sn = list(&catalog.server_notifications, true);
    let cn = list(&catalog.client_notifications, true);
    quote! {
        /// Every client request method of this build's protocol surface, in schema order.
        #[cfg(not(feature = "experimental"))]
        pub const CLIENT_REQUEST_METHODS: &[&str] = #stable_cr;
        /// Every client request method of this build's protocol surface, in schema order.
        #[cfg(feature = "experimental")]
        pub const CLIENT_REQUEST_METHODS: &[&str] = #all_cr;
        /// Every server request method of this protocol surface, in schema order.
        pub const SERVER_REQUEST_METHODS: &[&str] = #sr;
        /// Every server notification method of this protocol surface, in schema order.
        pub const SERVER_NOTIFICATION_METHODS: &[&str] = #sn;
        /// Every client notification method of this protocol surface, in schema order.
        pub const CLIENT_NOTIFICATION_METHODS: &[&str] = #cn;
    }
}
