// The code of this module is generated at build time from `openapi.yaml` (a link to
// OpenAPI/openapi.yaml) by swift-openapi-generator; this file only lets the package see the
// module. Edit the spec, never generated code.
import OpenAPIRuntime
