//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the service. Its schemas are generated
//! from the same Rust types the handlers use, so the document cannot drift from them.

use axum::Json;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::routes::admin::{BlockRequest, BlocksReply};
use crate::routes::events::IngestReply;
use crate::routes::health::{Health, Ready};
use crate::routes::users::ForgetReply;
use selflearn_types::{RewriteRequest, RewriteResponse, TurnEvent};

/// Builds the document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let event = generator.subschema_for::<TurnEvent>();
    let reply = generator.subschema_for::<IngestReply>();
    let health = generator.subschema_for::<Health>();
    let ready = generator.subschema_for::<Ready>();
    let rewrite_request = generator.subschema_for::<RewriteRequest>();
    let rewrite_response = generator.subschema_for::<RewriteResponse>();
    let forget_reply = generator.subschema_for::<ForgetReply>();
    let block_request = generator.subschema_for::<BlockRequest>();
    let blocks_reply = generator.subschema_for::<BlocksReply>();
    let mut schemas = generator.take_definitions(true);
    schemas.insert("Error".into(), error_schema());
    let error = |description: &str| {
        json!({ "description": description,
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
    };
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "selflearn",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Self-learning engine for voice assistants: turn-event ingestion and request rewriting."
        },
        "paths": {
            "/v1/events": { "post": {
                "summary": "Store a batch of turn events atomically and durably",
                "description": "The whole batch is validated first; one bad record refuses the batch (nothing stored) and the error names its index and field. Re-sent event ids are stored once.",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "type": "array", "items": event } } } },
                "responses": {
                    "200": { "description": "Stored (acknowledged events are durable)",
                             "content": { "application/json": { "schema": reply } } },
                    "400": error("Empty body or invalid JSON"),
                    "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                    "403": error("The token lacks the ingest role, or a record names another source than the token's"),
                    "409": error("An event id is already stored with other content (the error names its index); nothing of the batch was stored"),
                    "408": error("The body did not arrive within body_read_timeout_ms"),
                    "413": error("Body or batch too large"),
                    "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                    "415": error("Content-Type is not application/json"),
                    "422": error("Valid JSON but not an array of events, a record is invalid, or an event id repeats within the batch"),
                    "421": error("A rewrite replica (`serve --shards`), which stores no events: send them to the ingest service"),
                    "503": error("Shutting down")
                }
            }},
            "/v1/health": { "get": {
                "summary": "Liveness",
                "responses": { "200": { "description": "Up",
                    "content": { "application/json": { "schema": health } } } }
            }},
            "/v1/ready": { "get": {
                "summary": "Readiness: whether events can be stored, and the artifacts answering rewrites",
                "responses": {
                    "200": { "description": "Ready", "content": { "application/json": { "schema": ready } } },
                    "503": { "description": "Not ready: the event writer has stopped",
                             "content": { "application/json": { "schema": ready } } }
                }
            }},
            "/v1/rewrite": { "post": {
                "summary": "The text NLU should receive for a recognised request",
                "requestBody": { "required": true, "content": { "application/json": { "schema": rewrite_request } } },
                "responses": {
                    "200": { "description": "The request, rewritten or unchanged, with the layer and evidence when rewritten",
                             "content": { "application/json": { "schema": rewrite_response } } },
                    "400": error("Empty body or invalid JSON"),
                    "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                    "403": error("The token lacks the rewrite role, or the request names another source than the token's"),
                    "408": error("The body did not arrive within body_read_timeout_ms"),
                    "413": error("Body too large"),
                    "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                    "415": error("Content-Type is not application/json"),
                    "422": error("Valid JSON of the wrong shape (a field missing or mistyped), an id no event could carry, or a text past max_rewrite_text_bytes"),
                    "421": error("A rewrite replica asked for a person of a shard it does not hold (the message names the user's shard): the balancer's routing is wrong")
                }
            }},
            "/v1/users/{user_id}": { "delete": {
                "summary": "Erase one user: every event of theirs, durably, scrubbed from the log's files",
                "description": "Answers once the deletion is committed and the database file no longer holds the user's events (secure delete, and the write-ahead log truncated unless a reader holds an older snapshot). From then on this process gives the user no personal rewrite; the next learn drops them from every artifact. A token bound to a source erases within its source. A rewrite replica (`serve --shards`) has no log: it deletes nothing, withholds the user's personal rewrites from then on, and says so (`withheld_only`).",
                "parameters": [
                    { "name": "user_id", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "source", "in": "query", "required": false, "schema": { "type": "string" },
                      "description": "Only this installation's user of that id; every source when absent" }
                ],
                "responses": {
                    "200": { "description": "Erased", "content": { "application/json": { "schema": forget_reply } } },
                    "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                    "403": error("The token lacks the admin role, or names another source than the token's"),
                    "422": error("A user id no event could carry"),
                    "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                    "503": error("Shutting down")
                }
            }},
            "/": { "get": {
                "summary": "The dashboard page (it holds no data: its script asks for an admin token and fetches the /v1/admin fragments)",
                "responses": { "200": { "description": "HTML", "content": { "text/html": {} } } }
            }},
            "/v1/admin/overview": { "get": {
                "summary": "The dashboard's overview, server-rendered HTML with SVG charts: artifacts in force, defect rate and friction signals per day, rewrites applied by layer, failing requests, the rewrite table with its evidence, wins and losses after deployment, rollbacks, held and blocked rewrites",
                "responses": {
                    "200": { "description": "An HTML fragment", "content": { "text/html": {} } },
                    "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                    "403": error("The token lacks the admin role"),
                    "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                    "503": error("The artifact set cannot be read now, or the service runs without the dashboard's views")
                }
            }},
            "/v1/admin/sessions/{user_id}": { "get": {
                "summary": "One person's sessions replayed from the log: each turn with what was heard, the rewrite, NLU's reading, the outcome, the answer and the friction signals it raised (the latest 500 turns)",
                "parameters": [
                    { "name": "user_id", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "source", "in": "query", "required": false, "schema": { "type": "string" },
                      "description": "The person's installation; a token bound to a source sees only its own" }
                ],
                "responses": {
                    "200": { "description": "An HTML fragment", "content": { "text/html": {} } },
                    "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                    "403": error("The token lacks the admin role, or names another source than the token's"),
                    "422": error("A user id no event could carry"),
                    "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                    "503": error("The log cannot be read now, or the service runs without the dashboard's views")
                }
            }},
            "/v1/admin/blocks": {
                "get": {
                    "summary": "Rewrites an operator blocked",
                    "responses": {
                        "200": { "description": "The block list", "content": { "application/json": { "schema": blocks_reply.clone() } } },
                        "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                        "403": error("The token lacks the admin role"),
                        "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                        "503": error("The service runs without the dashboard's views")
                    }
                },
                "post": {
                    "summary": "Block a rewrite: from the answer on, it is never served, whatever later learns find (the list is saved beside the event log before the answer)",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": block_request.clone() } } },
                    "responses": {
                        "200": { "description": "The block list after the change", "content": { "application/json": { "schema": blocks_reply.clone() } } },
                        "400": error("Empty body or invalid JSON"),
                        "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                        "403": error("The token lacks the admin role"),
                        "415": error("Content-Type is not application/json"),
                        "422": error("No target, a target without words, or a text past max_rewrite_text_bytes"),
                        "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                        "503": error("The block list cannot be saved, or the service runs without the dashboard's views")
                    }
                },
                "delete": {
                    "summary": "Lift a block (the same source and target it was made with)",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": block_request } } },
                    "responses": {
                        "200": { "description": "The block list after the change", "content": { "application/json": { "schema": blocks_reply } } },
                        "400": error("Empty body or invalid JSON"),
                        "401": error("No bearer token, or an unknown one (when tokens are configured)"),
                        "403": error("The token lacks the admin role"),
                        "415": error("Content-Type is not application/json"),
                        "422": error("No target, or a text past max_rewrite_text_bytes"),
                        "429": error("Too many requests at once (max_concurrent_requests); see Retry-After"),
                        "503": error("The block list cannot be saved, or the service runs without the dashboard's views")
                    }
                }
            },
            "/v1/openapi.json": { "get": {
                "summary": "This document",
                "responses": { "200": { "description": "OpenAPI 3.1 document" } }
            }}
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "A token configured in `[[server.tokens]]` (by its SHA-256); none configured: open" } }
        }
    });
    // Every route that needs a role says so; the table the router is built from decides which.
    for (method, path, role, _) in crate::route_table() {
        if let Some(role) = role {
            doc["paths"][path][method]["security"] = json!([{ "bearer": [] }]);
            doc["paths"][path][method]["x-selflearn-role"] = json!(role.to_string());
        }
    }
    doc
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": { "type": "string", "description": "Stable machine-readable code" },
                "message": { "type": "string" },
                "index": { "type": "integer", "description": "Index of the offending record in a batch" },
                "field": { "type": "string", "description": "JSON path of the offending field" }
            }
        }}
    })
}

/// Serves the document.
pub async fn get_openapi() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_reference_resolves() {
        let doc = document();
        let table = crate::route_table();
        let routed: Vec<(&str, &str)> = table
            .iter()
            .map(|(method, path, _, _)| (*method, *path))
            .collect();
        for (method, path, role, _) in &table {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            // A route behind a role documents its scheme and both refusals; a public one none.
            let guarded = role.is_some();
            assert_eq!(operation["security"].is_array(), guarded, "{method} {path}");
            for status in ["401", "403"] {
                assert_eq!(
                    operation["responses"][status].is_object(),
                    guarded,
                    "{method} {path} {status}"
                );
            }
        }
        // And nothing is documented that the router does not route.
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for method in methods.as_object().unwrap().keys() {
                assert!(
                    routed.contains(&(method.as_str(), path.as_str())),
                    "{method} {path} is documented but not routed"
                );
            }
        }
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref to {name}"
            );
        }
    }
}
