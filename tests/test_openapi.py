"""The OpenAPI document the daemon serves is valid OpenAPI 3.1, and its schemas say nothing a
validator would silently ignore."""

from jsonschema_specifications import REGISTRY
from openapi_spec_validator import OpenAPIV31SpecValidator

DIALECT = "https://json-schema.org/draft/2020-12/"
# OpenAPI 3.1's Schema Object: the JSON Schema 2020-12 vocabularies plus OpenAPI's own keywords.
SCHEMA_KEYWORDS = {keyword for vocabulary in REGISTRY.contents(f"{DIALECT}schema")["allOf"]
                   for keyword in REGISTRY.contents(DIALECT + vocabulary["$ref"])["properties"]} | {
    "discriminator", "xml", "externalDocs", "example"}
SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
SUBSCHEMAS = ("items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames",
              "unevaluatedItems", "unevaluatedProperties", "contentSchema")
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def unknown_keywords(schema, where: str) -> list[str]:
    """Keywords of `schema` and its subschemas that no vocabulary defines: JSON Schema lets a
    validator ignore them, so a typo, or a YAML flow mapping split at a comma, passes unseen."""
    if not isinstance(schema, dict):
        return []
    found = [f"{where}: {key!r}" for key in schema if key not in SCHEMA_KEYWORDS and not key.startswith("x-")]
    for key in SUBSCHEMA_MAPS:
        for name, sub in schema.get(key, {}).items():
            found += unknown_keywords(sub, f"{where}.{key}.{name}")
    for key in SUBSCHEMAS:
        found += unknown_keywords(schema.get(key), f"{where}.{key}")
    for key in SUBSCHEMA_LISTS:
        for index, sub in enumerate(schema.get(key, [])):
            found += unknown_keywords(sub, f"{where}.{key}[{index}]")
    return found


def document_schemas(document: dict):
    """(where, schema) for every Schema Object outside components.schemas' own nesting."""
    yield from ((f"components.schemas.{name}", schema) for name, schema in document["components"]["schemas"].items())

    def media(content: dict, where: str):
        for media_type, body in (content or {}).items():
            if "schema" in body:
                yield f"{where}.content.{media_type}", body["schema"]
    for name, response in document["components"].get("responses", {}).items():
        yield from media(response.get("content"), f"components.responses.{name}")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                yield f"{where} parameter {parameter['name']}", parameter["schema"]
            yield from media(operation.get("requestBody", {}).get("content"), f"{where} body")
            for status, response in operation["responses"].items():
                yield from media(response.get("content"), f"{where} {status}")


async def test_the_served_document_is_valid_openapi_3_1(client):
    response = await client.get("/api/v1/openapi.json")
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    assert [f"{list(error.absolute_path)}: {error.message}"
            for error in OpenAPIV31SpecValidator(document).iter_errors()] == []
    assert [found for where, schema in document_schemas(document) for found in unknown_keywords(schema, where)] == []


def test_the_keyword_check_finds_a_stray_key():
    schema = {"type": "object", "properties": {"fingerprint": {"type": "string", "description": "kept when 16 hex",
                                                               "else computed from labels": None}}}
    assert unknown_keywords(schema, "WebhookAlert") == [
        "WebhookAlert.properties.fingerprint: 'else computed from labels'"]
